"""URL patterns of the office pages (joined into the "workorders" namespace by urls.py)."""

from django.urls import path

from . import office_views

urlpatterns: list = [
    path("<uuid:public_id>/", office_views.order_page, name="order"),
]
