from django.urls import path

from . import views

app_name = "scheduling"
urlpatterns = [
    path("booker/", views.booker, name="booker"),
    path("booker/contacts/", views.booker_contacts, name="booker_contacts"),
    path("booker/confirm/", views.booker_confirm, name="booker_confirm"),
    path("booker/book/", views.booker_book, name="booker_book"),
    path("day/", views.day_view, name="day_view"),
    path("hours/", views.hours, name="my_hours"),
    path("hours/<int:staff_id>/", views.hours, name="staff_hours"),
    path(
        "hours/<int:staff_id>/dates/<int:pk>/delete/",
        views.exception_delete,
        name="exception_delete",
    ),
    path(
        "hours/<int:staff_id>/time-off/<int:pk>/delete/",
        views.time_off_delete,
        name="time_off_delete",
    ),
    path("types/", views.types_list, name="types"),
    path("types/new/", views.type_edit, name="type_create"),
    path("types/<int:pk>/", views.type_edit, name="type_edit"),
    path("policy/", views.policy, name="policy"),
]
