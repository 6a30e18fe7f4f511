"""REST endpoints of bookings: list (scoped), book an option, one booking by its public id, and
the actions confirm / cancel / reschedule / mark.

Access: the list and every lookup go through `selectors.bookings_for`, so a booking the user may
not see is a 404 (another organisation's, a sibling unit's, another customer's). Booking needs
`bookings.book_for_customer`; confirm and mark need `bookings.manage_booking` (staff);
cancel and reschedule need `bookings.change_booking` (staff, or the customer for their own
booking — customers are held to the type's cancel / reschedule windows, staff are not).

A booking made here answers as soon as it is written (with its audit row): its timeline entry and
the customer's message follow from the bookings pump, within a second when the worker runs
(`services.booking_effects_apply_pending`).

A lost race (the time was taken meanwhile) answers 409 with fresh options for the same visit
around the time asked for: `{"detail": "...", "options": [...]}`.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from slotwise.core.api import TokenAuthentication
from slotwise.core.errors import Conflict
from slotwise.customers.selectors import contact_for_customer
from slotwise.org.selectors import staff_of
from slotwise.scheduling.api import (
    ERRORS,
    OptionSerializer,
    OrgTimeZoneMixin,
    fresh_options,
    place,
    resolve_contact,
    resolve_services,
    resolve_staff,
    resolve_type,
    spec_for,
)

from . import services
from .selectors import booking_by_public_id, bookings_for
from .serializers import (
    BookingCreateSerializer,
    BookingListQuerySerializer,
    BookingSerializer,
    CancelSerializer,
    ConflictSerializer,
    MarkSerializer,
    RescheduleSerializer,
)

# The project's authentication (settings.REST_FRAMEWORK), with the token read in one plain query.
AUTHENTICATION = [SessionAuthentication, TokenAuthentication]
CONFLICT = {409: OpenApiResponse(ConflictSerializer, description="Taken meanwhile.")}
NOT_FOUND = {404: OpenApiResponse(description="No such booking (or not yours to see).")}


class _BookingTimeZone(OrgTimeZoneMixin):
    def org_zone(self, request):
        zone = super().org_zone(request)
        if zone is None:
            contact = contact_for_customer(request.user)
            if contact is not None:
                return ZoneInfo(contact.organisation.time_zone)
        return zone


def _conflict(exc: Conflict, *, booking_type, extras, location, start, contact, exclude=None):
    """The same Conflict with fresh options for the same visit around `start`."""
    try:
        spec = spec_for(booking_type, extras)
    except ValidationError:
        options = []
    else:
        options = fresh_options(
            organisation=booking_type.organisation,
            spec=spec,
            location=location,
            around=start,
            contact=contact,
            exclude_booking=exclude,
        )
    return Conflict(exc.message, detail={"options": OptionSerializer(options, many=True).data})


class BookingListView(_BookingTimeZone, APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Bookings you may see (staff: your units' and your own; customers: yours)",
        parameters=[BookingListQuerySerializer],
        responses=BookingSerializer(many=True),
    )
    def get(self, request):
        query = BookingListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        qs = bookings_for(request.user).prefetch_related("services")
        if "status" in q:
            qs = qs.filter(status=q["status"])
        if "staff" in q:
            qs = qs.filter(staff_id=q["staff"])
        if "contact" in q:
            qs = qs.filter(contact__public_id=q["contact"])
        if "start" in q:
            qs = qs.filter(end__gt=q["start"])
        if "end" in q:
            qs = qs.filter(start__lt=q["end"])
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(qs.order_by("start", "pk"), request, view=self)
        return paginator.get_paginated_response(BookingSerializer(page, many=True).data)

    @extend_schema(
        summary="Book an option for a contact (existing or new)",
        request=BookingCreateSerializer,
        responses={201: BookingSerializer, **ERRORS, **CONFLICT},
    )
    def post(self, request):
        staff_member = staff_of(request.user)
        if staff_member is None or not request.user.has_perm("bookings.book_for_customer"):
            raise PermissionDenied()
        organisation = staff_member.organisation
        serializer = BookingCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        booking_type = resolve_type(organisation, data["type"])
        extras = resolve_services(organisation, data.get("services", []), main=booking_type)
        staff = resolve_staff(organisation, data["staff"])
        contact = resolve_contact(request.user, data.get("contact"))
        if contact is None and not data.get("new_contact"):
            raise ValidationError({"contact": _("Choose a customer or enter a new one.")})
        location = place(organisation, data, contact)
        try:
            booking = services.booking_book(
                organisation=organisation,
                type=booking_type,
                staff=staff,
                start=data["start"],
                actor=request.user,
                services=extras,
                contact=contact,
                new_contact=None if contact is not None else data.get("new_contact"),
                location=location,
                hold_minutes=data.get("hold_minutes"),
                seats=data["seats"],
                notes=data["notes"],
                # The timeline entry and the customer's message follow from the bookings pump.
                defer_effects=True,
            )
        except Conflict as exc:
            raise _conflict(
                exc,
                booking_type=booking_type,
                extras=extras,
                location=location,
                start=data["start"],
                contact=contact,
            ) from None
        body = BookingSerializer(booking, context={"services": extras}).data
        return Response(body, status=status.HTTP_201_CREATED)


class _OneBooking(_BookingTimeZone, APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [IsAuthenticated]
    perm = "bookings.view_booking"

    def booking(self, request, public_id):
        booking = booking_by_public_id(request.user, public_id)
        if booking is None:
            raise NotFound()
        if not request.user.has_perm(self.perm, booking):
            raise PermissionDenied()
        return booking

    def done(self, booking):
        fresh = booking_by_public_id(self.request.user, booking.public_id) or booking
        return Response(BookingSerializer(fresh).data)


class BookingDetailView(_OneBooking):
    @extend_schema(
        summary="One booking by its public id", responses={200: BookingSerializer, **NOT_FOUND}
    )
    def get(self, request, public_id):
        return Response(BookingSerializer(self.booking(request, public_id)).data)


class BookingConfirmView(_OneBooking):
    perm = "bookings.manage_booking"

    @extend_schema(
        summary="Confirm a hold",
        request=None,
        responses={200: BookingSerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    def post(self, request, public_id):
        booking = self.booking(request, public_id)
        try:
            services.booking_confirm(booking=booking, actor=request.user)
        except Conflict as exc:
            raise _conflict(
                exc,
                booking_type=booking.type,
                extras=list(booking.services.all()),
                location=booking.location,
                start=booking.start,
                contact=booking.contact,
                exclude=booking,
            ) from None
        return self.done(booking)


class BookingCancelView(_OneBooking):
    perm = "bookings.change_booking"

    @extend_schema(
        summary="Cancel (customers: not inside the type's cancel window)",
        request=CancelSerializer,
        responses={200: BookingSerializer, **ERRORS, **NOT_FOUND},
    )
    def post(self, request, public_id):
        booking = self.booking(request, public_id)
        serializer = CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.booking_cancel(
            booking=booking,
            actor=request.user,
            reason=serializer.validated_data["reason"],
            enforce_window=staff_of(request.user) is None,
        )
        return self.done(booking)


class BookingRescheduleView(_OneBooking):
    perm = "bookings.change_booking"

    @extend_schema(
        summary="Move to another time (and, for staff, another staff member)",
        request=RescheduleSerializer,
        responses={200: BookingSerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    def post(self, request, public_id):
        booking = self.booking(request, public_id)
        serializer = RescheduleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        is_staff = staff_of(request.user) is not None
        target = None
        if data.get("staff") is not None:
            if not is_staff:
                raise ValidationError({"staff": _("Only staff can change the staff member.")})
            target = resolve_staff(booking.organisation, data["staff"])
        try:
            services.booking_reschedule(
                booking=booking,
                start=data["start"],
                staff=target,
                actor=request.user,
                enforce_window=not is_staff,
            )
        except Conflict as exc:
            raise _conflict(
                exc,
                booking_type=booking.type,
                extras=list(booking.services.exclude(pk=booking.type_id)),
                location=booking.location,
                start=data["start"],
                contact=booking.contact,
                exclude=booking,
            ) from None
        return self.done(booking)


class BookingMarkView(_OneBooking):
    perm = "bookings.manage_booking"

    @extend_schema(
        summary="Record what happened: no-show or done",
        request=MarkSerializer,
        responses={200: BookingSerializer, **ERRORS, **NOT_FOUND},
    )
    def post(self, request, public_id):
        booking = self.booking(request, public_id)
        serializer = MarkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.booking_mark(
            booking=booking, status=serializer.validated_data["status"], actor=request.user
        )
        return self.done(booking)
