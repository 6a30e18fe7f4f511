"""In-app chat pages: customers with their manager (portal), technicians with the office."""

from django.urls import path  # noqa: F401

app_name = "chat"

urlpatterns: list = []
