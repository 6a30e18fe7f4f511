from django.urls import path

from . import backoffice, portal, provider_settings, recon_views, views

app_name = "payments"

urlpatterns = [
    path(
        "callback/<slug:provider>/<slug:org_slug>/",
        views.callback,
        name="callback",
    ),
    path("pay/<uuid:public_id>/", views.pay, name="pay"),
    path("pay/<uuid:public_id>/status/", views.pay_status, name="pay_status"),
    path("test-provider/<str:reference>/", views.test_checkout, name="test_checkout"),
    # Payment methods of the organisation (org admins).
    path("settings/", provider_settings.provider_list, name="providers"),
    path("settings/<slug:kind>/", provider_settings.provider_edit, name="provider_edit"),
    # Invoices: the customer's own ("My invoices") and the PDF (customer and back office).
    path("invoices/", portal.my_invoices, name="my_invoices"),
    path("invoices/<uuid:public_id>/", portal.my_invoice, name="my_invoice"),
    path("invoices/<uuid:public_id>/pdf/", portal.invoice_pdf, name="invoice_pdf"),
    # Back office: payments with refunds, invoices.
    path("office/", backoffice.payments_list, name="office_payments"),
    path("office/<uuid:public_id>/", backoffice.payment_detail, name="office_payment"),
    path("office/<uuid:public_id>/live/", backoffice.payment_live, name="office_payment_live"),
    path("office/invoices/", backoffice.invoices_list, name="office_invoices"),
    path("office/invoices/new/", backoffice.invoice_edit, name="office_invoice_new"),
    path("office/invoices/<uuid:public_id>/", backoffice.invoice_detail, name="office_invoice"),
    path(
        "office/invoices/<uuid:public_id>/edit/",
        backoffice.invoice_edit,
        name="office_invoice_edit",
    ),
    path(
        "office/invoices/<uuid:public_id>/issue/",
        backoffice.invoice_issue,
        name="office_invoice_issue",
    ),
    path(
        "office/invoices/<uuid:public_id>/void/",
        backoffice.invoice_void,
        name="office_invoice_void",
    ),
    path(
        "office/invoices/<uuid:public_id>/payment/",
        backoffice.invoice_manual_payment,
        name="office_invoice_payment",
    ),
    # Reconciliation (managers) and on-site payments: recorded by staff, or a link to pay.
    path("reconciliation/", recon_views.report, name="reconciliation"),
    path("reconciliation.csv", recon_views.report_csv, name="reconciliation_csv"),
    path(
        "reconciliation/hand-over/<int:staff_id>/",
        recon_views.hand_over,
        name="reconciliation_hand_over",
    ),
    path("onsite/<uuid:public_id>/", recon_views.onsite_booking, name="onsite_booking"),
    path("link/<uuid:public_id>/", recon_views.link, name="link"),
]
