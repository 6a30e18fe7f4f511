"""REST API (documented at /api/schema/). Each app contributes its routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("slotwise.org.api_urls")),
]
