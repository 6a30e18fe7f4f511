from django.urls import path

from . import views

app_name = "bookings"
urlpatterns = [
    path("mine/", views.mine, name="mine"),
    path("<uuid:public_id>/", views.staff_detail, name="detail"),
    path("<uuid:public_id>/message/", views.message_customer, name="message_customer"),
    path("confirmation/<uuid:public_id>/", views.confirmation, name="confirmation"),
    path("confirmation/<uuid:public_id>/calendar.ics", views.calendar_file, name="calendar"),
    path("pay/<uuid:public_id>/", views.booking_pay, name="pay"),
    path("manage/<str:token>/", views.manage, name="manage"),
    path("manage/<str:token>/reschedule/", views.manage_reschedule, name="reschedule"),
    path("manage/<str:token>/cancel/", views.manage_cancel, name="cancel"),
    path("manage/<str:token>/calendar.ics", views.manage_calendar, name="manage_calendar"),
]
