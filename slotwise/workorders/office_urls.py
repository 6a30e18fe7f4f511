"""URL patterns of the office pages (joined into the "workorders" namespace by urls.py)."""

from django.urls import path

from . import office_views

urlpatterns: list = [
    path("", office_views.orders_list, name="list"),
    path("catalogue/", office_views.catalogue, name="catalogue"),
    path("catalogue/<int:pk>/", office_views.catalogue_item, name="catalogue_item"),
    path("catalogue/<int:pk>/archive/", office_views.catalogue_archive, name="catalogue_archive"),
    path("photo/<uuid:photo_id>/", office_views.photo, name="photo"),
    path("photo/<uuid:photo_id>/thumb/", office_views.photo_thumb, name="photo_thumb"),
    path("<uuid:public_id>/", office_views.order_page, name="order"),
    path("<uuid:public_id>/prepare/", office_views.order_prepare, name="order_prepare"),
    path("<uuid:public_id>/lines/", office_views.order_lines, name="order_lines"),
    path("<uuid:public_id>/extras/", office_views.order_extras, name="order_extras"),
    path("<uuid:public_id>/confirm/", office_views.order_confirm, name="order_confirm"),
    path("<uuid:public_id>/return/", office_views.order_return, name="order_return"),
    path("<uuid:public_id>/cancel/", office_views.order_cancel, name="order_cancel"),
    path("<uuid:public_id>/comment/", office_views.order_comment, name="order_comment"),
]
