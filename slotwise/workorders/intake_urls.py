"""URL patterns of the intake pages (joined into the "workorders" namespace by urls.py)."""

from django.urls import path

from . import intake_views

urlpatterns: list = [
    path("request/<slug:org_slug>/", intake_views.request_form, name="request"),
    path("request/<slug:org_slug>/thanks/", intake_views.request_thanks, name="request_thanks"),
    path("new/", intake_views.new_order, name="new"),
    path("new/contacts/", intake_views.new_order_contacts, name="new_contacts"),
    path(
        "from-conversation/<uuid:public_id>/",
        intake_views.from_conversation,
        name="from_conversation",
    ),
]
