"""REST API (documented at /api/schema/). Each app contributes its routes."""

from django.urls import include, path

from slotwise.bookings import api as bookings_api
from slotwise.scheduling import api as scheduling_api

urlpatterns = [
    path("", include("slotwise.org.api_urls")),
    path("types/", scheduling_api.AppointmentTypeListView.as_view(), name="api_types"),
    path(
        "types/<str:key>/",
        scheduling_api.AppointmentTypeDetailView.as_view(),
        name="api_type",
    ),
    path("options/", scheduling_api.OptionsView.as_view(), name="api_options"),
    path("availability/free/", scheduling_api.FreeStaffView.as_view(), name="api_free"),
    path("availability/gaps/", scheduling_api.GapsView.as_view(), name="api_gaps"),
    path("availability/hours/", scheduling_api.WorkingHoursView.as_view(), name="api_hours"),
    path("bookings/", bookings_api.BookingListView.as_view(), name="api_bookings"),
    path(
        "bookings/<uuid:public_id>/",
        bookings_api.BookingDetailView.as_view(),
        name="api_booking",
    ),
    path(
        "bookings/<uuid:public_id>/confirm/",
        bookings_api.BookingConfirmView.as_view(),
        name="api_booking_confirm",
    ),
    path(
        "bookings/<uuid:public_id>/cancel/",
        bookings_api.BookingCancelView.as_view(),
        name="api_booking_cancel",
    ),
    path(
        "bookings/<uuid:public_id>/reschedule/",
        bookings_api.BookingRescheduleView.as_view(),
        name="api_booking_reschedule",
    ),
    path(
        "bookings/<uuid:public_id>/mark/",
        bookings_api.BookingMarkView.as_view(),
        name="api_booking_mark",
    ),
]
