"""The staff inbox, the contact card and the in-app chat pages."""

from django.urls import path  # noqa: F401

app_name = "inbox"

urlpatterns: list = []
