from django.urls import path

from . import views

app_name = "customers"
urlpatterns = [
    path("", views.contact_list, name="list"),
    path("<uuid:public_id>/", views.contact_card, name="contact"),
    path("<uuid:public_id>/calls/", views.call_log, name="call_log"),
    path("<uuid:public_id>/merge/", views.merge_search, name="merge_search"),
    path("<uuid:public_id>/merge/<uuid:source_id>/", views.merge_confirm, name="merge"),
]
