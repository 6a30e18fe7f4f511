"""URL patterns of the technician's app (joined into the "workorders" namespace by urls.py)."""

from django.urls import path

from . import tech_views

urlpatterns: list = [
    path("tech/o/<uuid:public_id>/", tech_views.order_card, name="tech_order"),
]
