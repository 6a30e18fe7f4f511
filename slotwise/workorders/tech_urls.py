"""URL patterns of the technician's app (joined into the "workorders" namespace by urls.py)."""

from django.urls import path

from . import sync, tech_views

urlpatterns: list = [
    path("tech/", tech_views.today, name="tech_today"),
    path("tech/tomorrow/", tech_views.tomorrow, name="tech_tomorrow"),
    path("tech/month/", tech_views.month, name="tech_month"),
    path("tech/profile/", tech_views.profile, name="tech_profile"),
    path("tech/o/<uuid:public_id>/", tech_views.order_card, name="tech_order"),
    path("tech/o/<uuid:public_id>/act/", tech_views.act, name="tech_act"),
    path("tech/o/<uuid:public_id>/comment/", tech_views.comment, name="tech_comment"),
    path("tech/o/<uuid:public_id>/extras/", tech_views.extras, name="tech_extras"),
    path("tech/o/<uuid:public_id>/photos/", tech_views.photos, name="tech_photos"),
    path(
        "tech/o/<uuid:public_id>/photos/<uuid:photo_id>/delete/",
        tech_views.photo_remove,
        name="tech_photo_delete",
    ),
    path("tech/o/<uuid:public_id>/complete/", tech_views.complete, name="tech_complete"),
    path("tech/sync/", sync.tech_sync, name="tech_sync"),
]
