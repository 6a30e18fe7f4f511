"""REST API (documented at /api/schema/). Each app contributes its routes."""

from django.urls import include, path

from slotwise.bookings import api as bookings_api
from slotwise.messaging import api as messaging_api
from slotwise.onboarding import api as onboarding_api
from slotwise.payments import api as payments_api
from slotwise.scheduling import api as scheduling_api

urlpatterns = [
    path("", include("slotwise.org.api_urls")),
    path("work-orders/", include("slotwise.workorders.api_urls")),
    path("types/", scheduling_api.AppointmentTypeListView.as_view(), name="api_types"),
    path(
        "types/<str:key>/",
        scheduling_api.AppointmentTypeDetailView.as_view(),
        name="api_type",
    ),
    path("options/", scheduling_api.OptionsView.as_view(), name="api_options"),
    path("availability/free/", scheduling_api.FreeStaffView.as_view(), name="api_free"),
    path("availability/gaps/", scheduling_api.GapsView.as_view(), name="api_gaps"),
    path("availability/hours/", scheduling_api.WorkingHoursView.as_view(), name="api_hours"),
    path("bookings/", bookings_api.BookingListView.as_view(), name="api_bookings"),
    path(
        "bookings/<uuid:public_id>/",
        bookings_api.BookingDetailView.as_view(),
        name="api_booking",
    ),
    path(
        "bookings/<uuid:public_id>/confirm/",
        bookings_api.BookingConfirmView.as_view(),
        name="api_booking_confirm",
    ),
    path(
        "bookings/<uuid:public_id>/cancel/",
        bookings_api.BookingCancelView.as_view(),
        name="api_booking_cancel",
    ),
    path(
        "bookings/<uuid:public_id>/reschedule/",
        bookings_api.BookingRescheduleView.as_view(),
        name="api_booking_reschedule",
    ),
    path(
        "bookings/<uuid:public_id>/mark/",
        bookings_api.BookingMarkView.as_view(),
        name="api_booking_mark",
    ),
    path("payments/", payments_api.PaymentListView.as_view(), name="api_payments"),
    path(
        "payments/<uuid:public_id>/",
        payments_api.PaymentDetailView.as_view(),
        name="api_payment",
    ),
    path(
        "payments/<uuid:public_id>/refunds/",
        payments_api.RefundCreateView.as_view(),
        name="api_payment_refunds",
    ),
    path("invoices/", payments_api.InvoiceListView.as_view(), name="api_invoices"),
    path(
        "invoices/<uuid:public_id>/",
        payments_api.InvoiceDetailView.as_view(),
        name="api_invoice",
    ),
    path(
        "invoices/<uuid:public_id>/issue/",
        payments_api.InvoiceIssueView.as_view(),
        name="api_invoice_issue",
    ),
    path(
        "invoices/<uuid:public_id>/void/",
        payments_api.InvoiceVoidView.as_view(),
        name="api_invoice_void",
    ),
    path(
        "invoices/<uuid:public_id>/pdf/",
        payments_api.InvoicePdfView.as_view(),
        name="api_invoice_pdf",
    ),
    path(
        "conversations/",
        messaging_api.ConversationListView.as_view(),
        name="api_conversations",
    ),
    path(
        "conversations/<uuid:public_id>/",
        messaging_api.ConversationDetailView.as_view(),
        name="api_conversation",
    ),
    path(
        "conversations/<uuid:public_id>/messages/",
        messaging_api.ConversationMessagesView.as_view(),
        name="api_conversation_messages",
    ),
    path("chat/", messaging_api.ChatView.as_view(), name="api_chat"),
    path(
        "chat/messages/",
        messaging_api.ChatMessageCreateView.as_view(),
        name="api_chat_messages",
    ),
    path(
        "contacts/<uuid:public_id>/timeline/",
        messaging_api.ContactTimelineView.as_view(),
        name="api_contact_timeline",
    ),
    path("applications/", onboarding_api.ApplicationListView.as_view(), name="api_applications"),
    path(
        "applications/<uuid:public_id>/",
        onboarding_api.ApplicationDetailView.as_view(),
        name="api_application",
    ),
    path(
        "applications/<uuid:public_id>/approve/",
        onboarding_api.ApplicationApproveView.as_view(),
        name="api_application_approve",
    ),
    path(
        "applications/<uuid:public_id>/reject/",
        onboarding_api.ApplicationRejectView.as_view(),
        name="api_application_reject",
    ),
]
