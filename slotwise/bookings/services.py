"""Every write to a booking. Keyword-only, atomic, audited on the contact's timeline.

No double booking (ARCHITECTURE rule 4): creating or moving a booking locks the staff row, so
writes for one staff member are serialised, then re-checks the blocked interval against the
staff member's active bookings before inserting. On PostgreSQL the exclusion constraint
`booking_no_overlap` is the last line of defence; its violation (and a deadlock) become
`Conflict`, never a 500.
"""

from __future__ import annotations

import datetime

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from slotwise.core.errors import Conflict, ValidationError
from slotwise.customers.services import timeline_add
from slotwise.org.models import Staff
from slotwise.scheduling.models import AppointmentType

from .models import ACTIVE_STATUSES, Booking, BookingStatus

DEFAULT_HOLD_MINUTES = 15
DEADLOCK = "40P01"
SERIALIZATION_FAILURE = "40001"


def _taken() -> Conflict:
    return Conflict(_("This time is no longer available. Please choose another time."))


def _is_lock_failure(exc: OperationalError) -> bool:
    code = getattr(getattr(exc, "__cause__", None), "sqlstate", None) or getattr(
        getattr(exc, "__cause__", None), "pgcode", None
    )
    return code in (DEADLOCK, SERIALIZATION_FAILURE)


def _interval(
    type: AppointmentType, start: datetime.datetime
) -> tuple[datetime.datetime, datetime.datetime, datetime.datetime]:
    end = start + datetime.timedelta(minutes=type.duration_minutes)
    blocked_start = start - datetime.timedelta(minutes=type.buffer_before)
    blocked_end = end + datetime.timedelta(minutes=type.buffer_after)
    return end, blocked_start, blocked_end


def _validate_start(
    *, type: AppointmentType, start, now: datetime.datetime, field: str = "start"
) -> None:
    if not isinstance(start, datetime.datetime):
        raise ValidationError({field: _("Enter a valid date and time.")})
    if timezone.is_naive(start):
        raise ValidationError({field: _("The time must include a time zone.")})
    if start < now + datetime.timedelta(minutes=type.min_notice_minutes):
        raise ValidationError(
            {
                field: ValidationError(
                    _("This time is too soon; please book at least %(minutes)s minutes ahead."),
                    code="min_notice",
                    params={"minutes": type.min_notice_minutes},
                )
            }
        )
    if start > now + datetime.timedelta(days=type.horizon_days):
        raise ValidationError(
            {
                field: ValidationError(
                    _("This time is too far ahead; bookings open %(days)s days in advance."),
                    code="horizon",
                    params={"days": type.horizon_days},
                )
            }
        )


def _validate_parties(*, type: AppointmentType, staff: Staff, contact) -> None:
    errors = {}
    if not type.active:
        errors["type"] = _("This appointment type can no longer be booked.")
    if staff.organisation_id != type.organisation_id:
        errors["staff"] = _("This staff member does not belong to the organisation.")
    if contact is None:
        errors["contact"] = _("Choose a contact.")
    elif contact.organisation_id != type.organisation_id:
        errors["contact"] = _("This contact does not belong to the organisation.")
    if errors:
        raise ValidationError(errors)


def _release_expired_holds(*, staff_id: int, blocked_start, blocked_end, now) -> None:
    """Expired holds still say "held" (and so still count for the DB constraint): cancel the
    ones in the way. Runs under the staff lock."""
    expired = Booking.objects.filter(
        staff_id=staff_id,
        status=BookingStatus.HELD,
        hold_expires_at__lte=now,
        blocked_start__lt=blocked_end,
        blocked_end__gt=blocked_start,
    )
    for booking in expired:
        booking.status = BookingStatus.CANCELLED
        booking.save(update_fields=["status", "updated_at"])


def _active_overlapping(*, staff_id: int, blocked_start, blocked_end, now, exclude_pk=None):
    qs = Booking.objects.filter(
        staff_id=staff_id,
        status__in=ACTIVE_STATUSES,
        blocked_start__lt=blocked_end,
        blocked_end__gt=blocked_start,
    ).filter(
        Q(status=BookingStatus.CONFIRMED)
        | Q(hold_expires_at__isnull=True)
        | Q(hold_expires_at__gt=now)
    )
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs


def _check_free(
    *,
    type: AppointmentType,
    staff_id: int,
    start,
    blocked_start,
    blocked_end,
    seats: int,
    now,
    exclude_pk=None,
) -> None:
    """Raise Conflict unless the interval is free (under the staff lock)."""
    _release_expired_holds(
        staff_id=staff_id, blocked_start=blocked_start, blocked_end=blocked_end, now=now
    )
    overlapping = _active_overlapping(
        staff_id=staff_id,
        blocked_start=blocked_start,
        blocked_end=blocked_end,
        now=now,
        exclude_pk=exclude_pk,
    )
    if type.capacity == 1:
        if overlapping.exists():
            raise _taken()
        return
    # A group: only bookings of the same session (type, start) may share the time.
    if overlapping.exclude(type=type, start=start).exists():
        raise _taken()
    session = list(
        overlapping.filter(type=type, start=start)
        .select_for_update()
        .values_list("seats", flat=True)
    )
    if sum(session) + seats > type.capacity:
        raise _taken()


def _guarded(fn):
    """Run `fn` in its own atomic block; turn exclusion violations and deadlocks into Conflict."""
    try:
        with transaction.atomic():
            return fn()
    except IntegrityError as exc:
        if "booking_no_overlap" in str(exc):
            raise _taken() from exc
        raise
    except OperationalError as exc:
        if _is_lock_failure(exc):
            raise _taken() from exc
        raise


def booking_create(
    *,
    type: AppointmentType,
    staff: Staff,
    contact,
    start: datetime.datetime,
    actor=None,
    hold_minutes: int | None = None,
    seats: int = 1,
    location=None,
    notes: str = "",
    now: datetime.datetime | None = None,
) -> Booking:
    """Book `start` with `staff`. With `hold_minutes` the booking is a hold that expires unless
    confirmed; without, it is confirmed at once. Raises ValidationError for bad input and
    Conflict when the time was taken."""
    now = now or timezone.now()
    _validate_parties(type=type, staff=staff, contact=contact)
    _validate_start(type=type, start=start, now=now)
    if hold_minutes is not None and hold_minutes <= 0:
        raise ValidationError({"hold_minutes": _("A hold must last at least one minute.")})
    if seats < 1 or seats > type.capacity:
        raise ValidationError(
            {
                "seats": ValidationError(
                    _("Book between 1 and %(capacity)s seats."),
                    code="seats",
                    params={"capacity": type.capacity},
                )
            }
        )
    end, blocked_start, blocked_end = _interval(type, start)

    def create() -> Booking:
        locked = Staff.objects.select_for_update().get(pk=staff.pk)
        _check_free(
            type=type,
            staff_id=locked.pk,
            start=start,
            blocked_start=blocked_start,
            blocked_end=blocked_end,
            seats=seats,
            now=now,
        )
        held = hold_minutes is not None
        booking = Booking.objects.create(
            organisation_id=type.organisation_id,
            type=type,
            staff=locked,
            contact=contact,
            unit_id=locked.unit_id,
            start=start,
            end=end,
            blocked_start=blocked_start,
            blocked_end=blocked_end,
            status=BookingStatus.HELD if held else BookingStatus.CONFIRMED,
            hold_expires_at=now + datetime.timedelta(minutes=hold_minutes) if held else None,
            exclusive=type.capacity == 1,
            location=location,
            seats=seats,
            notes=notes,
        )
        timeline_add(
            contact=contact,
            kind="booking.created",
            summary=_("%(type)s booked for %(start)s")
            % {"type": type.name, "start": start.isoformat()},
            data={"booking": str(booking.public_id), "status": booking.status},
            actor=actor,
        )
        return booking

    return _guarded(create)


def booking_confirm(
    *, booking: Booking, actor=None, now: datetime.datetime | None = None
) -> Booking:
    """Turn a hold into a confirmed booking. An expired hold whose time is taken meanwhile
    raises Conflict."""
    now = now or timezone.now()

    def confirm() -> Booking:
        Staff.objects.select_for_update().get(pk=booking.staff_id)
        current = Booking.objects.select_for_update().get(pk=booking.pk)
        if current.status == BookingStatus.CONFIRMED:
            return current
        lapsed = current.hold_expires_at is not None and current.hold_expires_at <= now
        if current.status == BookingStatus.CANCELLED and lapsed:
            # The hold lapsed and was released for someone else (see _release_expired_holds).
            raise _taken()
        if current.status != BookingStatus.HELD:
            raise ValidationError({"status": _("Only a held booking can be confirmed.")})
        if lapsed:
            # The hold lapsed: confirm only if nobody took the time meanwhile.
            _check_free(
                type=current.type,
                staff_id=current.staff_id,
                start=current.start,
                blocked_start=current.blocked_start,
                blocked_end=current.blocked_end,
                seats=current.seats,
                now=now,
                exclude_pk=current.pk,
            )
        current.status = BookingStatus.CONFIRMED
        current.hold_expires_at = None
        current.save(update_fields=["status", "hold_expires_at", "updated_at"])
        timeline_add(
            contact=current.contact,
            kind="booking.confirmed",
            summary=_("Booking confirmed for %(start)s") % {"start": current.start.isoformat()},
            data={"booking": str(current.public_id)},
            actor=actor,
        )
        return current

    result = _guarded(confirm)
    booking.refresh_from_db()
    return result


def booking_cancel(
    *, booking: Booking, actor=None, now: datetime.datetime | None = None
) -> Booking:
    """Cancel; refused (field "start") once inside the type's cancel window."""
    now = now or timezone.now()
    with transaction.atomic():
        current = Booking.objects.select_for_update().select_related("type").get(pk=booking.pk)
        if current.status == BookingStatus.CANCELLED:
            return current
        if current.status not in ACTIVE_STATUSES:
            raise ValidationError({"status": _("This booking can no longer be cancelled.")})
        window = datetime.timedelta(hours=current.type.cancel_window_hours)
        if current.status == BookingStatus.CONFIRMED and current.start - window < now:
            raise ValidationError(
                {
                    "start": ValidationError(
                        _("It is too late to cancel: cancel at least %(hours)s hours before."),
                        code="cancel_window",
                        params={"hours": current.type.cancel_window_hours},
                    )
                }
            )
        current.status = BookingStatus.CANCELLED
        current.hold_expires_at = None
        current.save(update_fields=["status", "hold_expires_at", "updated_at"])
        timeline_add(
            contact=current.contact,
            kind="booking.cancelled",
            summary=_("Booking for %(start)s cancelled") % {"start": current.start.isoformat()},
            data={"booking": str(current.public_id)},
            actor=actor,
        )
    booking.refresh_from_db()
    return current


def booking_mark(*, booking: Booking, status: str, actor=None) -> Booking:
    """Record what happened: no-show or done."""
    if status not in (BookingStatus.NO_SHOW, BookingStatus.DONE):
        raise ValidationError({"status": _("Choose no-show or done.")})
    with transaction.atomic():
        current = Booking.objects.select_for_update().get(pk=booking.pk)
        if current.status != BookingStatus.CONFIRMED:
            raise ValidationError({"status": _("Only a confirmed booking can be marked.")})
        current.status = status
        current.save(update_fields=["status", "updated_at"])
        timeline_add(
            contact=current.contact,
            kind=f"booking.{status}",
            summary=_("Booking for %(start)s marked: %(status)s")
            % {"start": current.start.isoformat(), "status": current.get_status_display()},
            data={"booking": str(current.public_id)},
            actor=actor,
        )
    booking.refresh_from_db()
    return current


def booking_reschedule(
    *, booking: Booking, start: datetime.datetime, actor=None, now: datetime.datetime | None = None
) -> Booking:
    """Move to a new start (same staff and type), with the same checks as creating; refused
    (field "start") once inside the type's reschedule window. Raises Conflict if taken."""
    now = now or timezone.now()
    type = booking.type
    _validate_start(type=type, start=start, now=now)
    end, blocked_start, blocked_end = _interval(type, start)

    def reschedule() -> Booking:
        Staff.objects.select_for_update().get(pk=booking.staff_id)
        current = Booking.objects.select_for_update().get(pk=booking.pk)
        if current.status not in ACTIVE_STATUSES:
            raise ValidationError({"status": _("This booking can no longer be moved.")})
        window = datetime.timedelta(hours=type.reschedule_window_hours)
        if current.start - window < now:
            raise ValidationError(
                {
                    "start": ValidationError(
                        _("It is too late to reschedule: move at least %(hours)s hours before."),
                        code="reschedule_window",
                        params={"hours": type.reschedule_window_hours},
                    )
                }
            )
        _check_free(
            type=type,
            staff_id=current.staff_id,
            start=start,
            blocked_start=blocked_start,
            blocked_end=blocked_end,
            seats=current.seats,
            now=now,
            exclude_pk=current.pk,
        )
        old_start = current.start
        current.start, current.end = start, end
        current.blocked_start, current.blocked_end = blocked_start, blocked_end
        current.save(update_fields=["start", "end", "blocked_start", "blocked_end", "updated_at"])
        timeline_add(
            contact=current.contact,
            kind="booking.rescheduled",
            summary=_("Booking moved from %(old)s to %(new)s")
            % {"old": old_start.isoformat(), "new": start.isoformat()},
            data={"booking": str(current.public_id), "from": old_start.isoformat()},
            actor=actor,
        )
        return current

    result = _guarded(reschedule)
    booking.refresh_from_db()
    return result
