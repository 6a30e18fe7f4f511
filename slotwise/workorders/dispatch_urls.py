"""URL patterns of the dispatch pages (joined into the "workorders" namespace by urls.py)."""

from django.urls import path

from . import dispatch_views

urlpatterns: list = [
    path("dispatch/", dispatch_views.board, name="dispatch"),
    path("dispatch/<uuid:public_id>/", dispatch_views.order_candidates, name="dispatch_order"),
    path("dispatch/<uuid:public_id>/assign/", dispatch_views.assign, name="dispatch_assign"),
]
