from django.urls import path

from . import views

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
]
