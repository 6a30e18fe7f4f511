from django.urls import path

from . import views

app_name = "payments"

urlpatterns = [
    path(
        "callback/<slug:provider>/<slug:org_slug>/",
        views.callback,
        name="callback",
    ),
    path("test-provider/<str:reference>/", views.test_checkout, name="test_checkout"),
]
