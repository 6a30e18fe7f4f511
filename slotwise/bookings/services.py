"""Every write to a booking. Keyword-only, atomic, audited (simple-history) and written to the
contact's timeline; the customer's message is queued in the same transaction
(`notifications.booking_changed`, outbox rule).

No double booking (ARCHITECTURE rule 4): creating or moving a booking locks the staff row, so
writes for one staff member are serialised, then re-checks the blocked interval against the
staff member's active bookings and, with `enforce_availability`, every other hard rule
(`scheduling.selectors.check_bookable`: working hours, time off, holidays, external busy time,
travel, skills, regions, notice, horizon) before inserting. On PostgreSQL the exclusion
constraint `booking_no_overlap` is the last line of defence; its violation (and a deadlock)
become `Conflict`, never a 500.

Follow-ups deferred (`defer_effects`, the API's bookings): the booking, its audit row and its
hold-expiry job are written in the request's transaction with `effects_due` set; the contact's
timeline entry and the customer's message follow from the bookings pump
(`booking_effects_apply_pending`, run by the worker), or first thing from any later change of the
booking (`_effects_first`), so they are never lost and never come after a later change's. See
docs/architecture.md, "Booking over the API".

Holds: a hold blocks its time until `hold_expires_at`. An expired hold stops counting at once
(the checks ignore it and release it when something else needs the time); `booking_hold_expire`
cancels every lapsed hold, run by the task `bookings.tasks.expire_holds`, which `booking_create`
enqueues (after commit) to run when the hold lapses.
"""

from __future__ import annotations

import datetime
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from slotwise.core.errors import Conflict, ValidationError
from slotwise.core.history import insert_with_history
from slotwise.core.tasks import enqueue_with_transaction
from slotwise.customers.models import Contact, TimelineEntry
from slotwise.customers.services import timeline_add, timeline_entry
from slotwise.messaging.notify import channels_read_once
from slotwise.messaging.services import outbox_batch
from slotwise.org.models import Location, Organisation, OrgUnit, Staff
from slotwise.org.selectors import models_from_row, select_columns
from slotwise.scheduling.models import AppointmentType

from . import notifications
from .models import ACTIVE_STATUSES, Booking, BookingSource, BookingStatus

try:  # part of the scheduling app's contract (scheduling.selectors)
    from slotwise.scheduling.selectors import check_bookable, visit_spec
except ImportError:  # pragma: no cover - only while the selectors are being written
    check_bookable = None
    visit_spec = None

logger = logging.getLogger("slotwise.bookings")

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


@dataclass(frozen=True)
class _LocalSpec:
    """Fallback for `scheduling.selectors.VisitSpec` (same attribute names) while the selectors
    are not importable."""

    types: tuple
    duration: int
    buffer_before: int
    buffer_after: int
    capacity: int
    min_notice_minutes: int
    horizon_days: int
    main: AppointmentType = field(repr=False, default=None)


def _spec(types: Sequence[AppointmentType]):
    """The combined visit of `types` (the first is the main one)."""
    if visit_spec is not None:
        return visit_spec(list(types))
    main = types[0]
    return _LocalSpec(
        types=tuple(types),
        duration=sum(t.duration_minutes for t in types),
        buffer_before=max(t.buffer_before for t in types),
        buffer_after=max(t.buffer_after for t in types),
        capacity=main.capacity,
        min_notice_minutes=max(t.min_notice_minutes for t in types),
        horizon_days=min(t.horizon_days for t in types),
        main=main,
    )


def _combined_spec(*, type: AppointmentType, services: Sequence[AppointmentType]):
    """VisitSpec for a type plus extra services; errors under the field "services"."""
    extras = [s for s in services if s.pk != type.pk]
    if len({s.pk for s in extras}) != len(extras):
        raise ValidationError({"services": _("Each service can be added once.")})
    try:
        return _spec([type, *extras]), extras
    except ValidationError as exc:
        if not extras or not hasattr(exc, "error_dict"):
            raise
        messages = [m for msgs in exc.message_dict.values() for m in msgs]
        raise ValidationError({"services": messages}) from exc


def _interval(
    spec, start: datetime.datetime
) -> tuple[datetime.datetime, datetime.datetime, datetime.datetime]:
    end = start + datetime.timedelta(minutes=spec.duration)
    blocked_start = start - datetime.timedelta(minutes=spec.buffer_before)
    blocked_end = end + datetime.timedelta(minutes=spec.buffer_after)
    return end, blocked_start, blocked_end


def _validate_start(*, spec, start, now: datetime.datetime, field: str = "start") -> None:
    if not isinstance(start, datetime.datetime):
        raise ValidationError({field: _("Enter a valid date and time.")})
    if timezone.is_naive(start):
        raise ValidationError({field: _("The time must include a time zone.")})
    if start < now + datetime.timedelta(minutes=spec.min_notice_minutes):
        raise ValidationError(
            {
                field: ValidationError(
                    _("This time is too soon; please book at least %(minutes)s minutes ahead."),
                    code="min_notice",
                    params={"minutes": spec.min_notice_minutes},
                )
            }
        )
    if start > now + datetime.timedelta(days=spec.horizon_days):
        raise ValidationError(
            {
                field: ValidationError(
                    _("This time is too far ahead; bookings open %(days)s days in advance."),
                    code="horizon",
                    params={"days": spec.horizon_days},
                )
            }
        )


def _validate_parties(*, type: AppointmentType, staff: Staff, contact, location=None) -> None:
    errors = {}
    if not type.active:
        errors["type"] = _("This appointment type can no longer be booked.")
    if staff.organisation_id != type.organisation_id:
        errors["staff"] = _("This staff member does not belong to the organisation.")
    if contact is None:
        errors["contact"] = _("Choose a contact.")
    elif contact.organisation_id != type.organisation_id:
        errors["contact"] = _("This contact does not belong to the organisation.")
    if location is not None and location.organisation_id != type.organisation_id:
        errors["location"] = _("This address does not belong to the organisation.")
    if errors:
        raise ValidationError(errors)


def _cancel_lapsed(bookings, *, now) -> int:
    """Cancel lapsed holds (already selected under a lock); history and timeline written."""
    count = 0
    for booking in bookings:
        _effects_first(booking)
        booking.status = BookingStatus.CANCELLED
        booking.cancelled_at = now
        booking._change_reason = "hold expired"
        booking.save(update_fields=["status", "cancelled_at", "updated_at"])
        timeline_add(
            contact=booking.contact,
            kind="booking.hold_expired",
            summary=_("The hold for %(start)s expired") % {"start": booking.start.isoformat()},
            data={"booking": str(booking.public_id)},
        )
        count += 1
    return count


@dataclass(frozen=True, slots=True)
class _InTheWay:
    pk: int
    status: str
    hold_expires_at: datetime.datetime | None
    type_id: int
    start: datetime.datetime
    seats: int


# The statuses are written into the statement (constants of the code, not input): with them as
# parameters PostgreSQL could not use the partial index of active bookings in a generic plan,
# so it planned this prepared statement afresh on every booking.
_IN_THE_WAY_SQL = f"""
    SELECT id, status, hold_expires_at, type_id, start, seats FROM {Booking._meta.db_table}
     WHERE staff_id = %s AND status IN ({", ".join(f"'{s}'" for s in ACTIVE_STATUSES)})
       AND blocked_start < %s AND blocked_end > %s AND id <> %s
"""


def _rows_in_the_way(*, staff_id, blocked_start, blocked_end, exclude_pk, lock: bool):
    """The staff member's active bookings overlapping the blocked interval (expired holds
    included). On PostgreSQL one plain query (the hot path of every booking); the ORM elsewhere."""
    if connection.vendor == "postgresql":
        sql = _IN_THE_WAY_SQL + (" FOR UPDATE" if lock else "")
        params = [staff_id, blocked_end, blocked_start, exclude_pk or 0]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [_InTheWay(*row) for row in cursor.fetchall()]
    rows = Booking.objects.filter(
        staff_id=staff_id,
        status__in=ACTIVE_STATUSES,
        blocked_start__lt=blocked_end,
        blocked_end__gt=blocked_start,
    )
    if exclude_pk is not None:
        rows = rows.exclude(pk=exclude_pk)
    if lock:
        rows = rows.select_for_update()
    return [
        _InTheWay(*row)
        for row in rows.values_list("pk", "status", "hold_expires_at", "type_id", "start", "seats")
    ]


def _lock_staff(staff_id: int) -> int:
    """Lock the staff row (serialising every write for this staff member); its unit id."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT unit_id FROM {Staff._meta.db_table} WHERE id = %s FOR UPDATE", [staff_id]
            )
            row = cursor.fetchone()
        if row is None:
            raise Staff.DoesNotExist
        return row[0]
    return (
        Staff.objects.select_for_update()
        .filter(pk=staff_id)
        .values_list("unit_id", flat=True)
        .get()
    )


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
) -> int:
    """Raise Conflict unless the interval is free (under the staff lock). Returns the seats
    already taken in the group session at `start` (0 for one-to-one types and new sessions).

    One query reads the staff member's active bookings in the way; expired holds among them
    still say "held" (and so still count for the DB constraint): they are cancelled here."""
    # Rows of a group session are locked so concurrent seat counts see each other.
    rows = _rows_in_the_way(
        staff_id=staff_id,
        blocked_start=blocked_start,
        blocked_end=blocked_end,
        exclude_pk=exclude_pk,
        lock=type.capacity > 1,
    )
    active, lapsed = [], []
    for row in rows:
        expired = (
            row.status == BookingStatus.HELD
            and row.hold_expires_at is not None
            and row.hold_expires_at <= now
        )
        (lapsed if expired else active).append(row)
    if lapsed:
        _cancel_lapsed(
            Booking.objects.filter(pk__in=[r.pk for r in lapsed]).select_related(
                "contact__organisation"
            ),
            now=now,
        )
    if type.capacity == 1:
        if active:
            raise _taken()
        return 0
    # A group: only bookings of the same session (type, start) may share the time.
    if any(r.type_id != type.pk or r.start != start for r in active):
        raise _taken()
    taken = sum(r.seats for r in active)
    if taken + seats > type.capacity:
        raise _taken()
    return taken


def _check_bookable(*, spec, staff, start, location, now, exclude_booking=None) -> None:
    """Every other hard rule for this one option (under the staff lock)."""
    if check_bookable is None:  # pragma: no cover - until the selectors exist
        return
    try:
        check_bookable(
            spec=spec,
            staff=staff,
            start=start,
            location=location,
            now=now,
            exclude_booking=exclude_booking,
        )
    except ValidationError as exc:
        # A rule that depends on OTHER bookings (the time, its buffers or the travel to a
        # neighbouring visit taken meanwhile; a session filled meanwhile) is a lost race:
        # Conflict (409 with fresh options), not bad input.
        codes = {e.code for e in getattr(exc, "error_dict", {}).get("start", ())}
        if codes & {"taken", "full"}:
            raise _taken() from exc
        raise


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


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _created_effects(booking: Booking, *, actor=None, entries: list | None = None) -> None:
    """What follows a new booking: the contact's timeline entry and the customer's message.
    With `entries` the timeline entry is appended there unsaved (the pump saves a batch's at
    once)."""
    entry = timeline_entry(
        contact=booking.contact,
        kind="booking.created",
        summary=_("%(type)s booked for %(start)s")
        % {"type": booking.type.name, "start": booking.start.isoformat()},
        data={"booking": str(booking.public_id), "status": booking.status},
        actor=actor,
        occurred_at=booking.created_at,
    )
    if entries is None:
        entry.save(force_insert=True)
    else:
        entries.append(entry)
    notifications.booking_changed(booking=booking, event="created")


def _due_effects(booking: Booking, entries: list | None = None) -> None:
    """A (locked) booking's deferred follow-ups, as of when it was made: the timeline entry in
    the organisation's language, by who booked it, and the customer's message."""
    with translation.override(booking.organisation.default_language):
        _created_effects(booking, actor=booking.created_by, entries=entries)


def _apply_due_effects(booking: Booking) -> bool:
    """`_due_effects` in a savepoint: a failure is logged and the follow-ups dropped (the
    booking itself stands; a failure that repeats would otherwise block the queue). True if
    they were written."""
    try:
        with transaction.atomic():
            _due_effects(booking)
    except Exception:
        logger.exception("follow-ups of booking %s failed", booking.pk)
        return False
    return True


def _effects_first(current: Booking) -> None:
    """Before a (locked) booking changes: its deferred follow-ups, if still due, so that the
    customer hears "booked" before "moved" or "cancelled"."""
    if not current.effects_due:
        return
    # Claimed by a conditional update: it waits for a pump that holds the row and then finds
    # them written, and a pump that comes later skips the row (locked) or finds it done.
    claimed = Booking.objects.filter(pk=current.pk, effects_due=True).update(effects_due=False)
    current.effects_due = False
    if claimed:
        _apply_due_effects(current)


# What the follow-ups read of a booking (`_created_effects`: the message's context, the timeline
# entry), loaded with it.
_DUE_RELATED = (
    "organisation",
    "type",
    "staff__user",
    "contact__organisation",
    "location",
    "unit",
    "created_by",
)


@functools.cache
def _due_parts() -> tuple:
    """The models `_claim_due` reads on PostgreSQL, in the row's order: (model, alias, join)."""
    user = get_user_model()
    return (
        (Booking, "b", ""),
        (Organisation, "o", "JOIN {t} o ON o.id = b.organisation_id"),
        (AppointmentType, "t", "JOIN {t} t ON t.id = b.type_id"),
        (Staff, "s", "JOIN {t} s ON s.id = b.staff_id"),
        (user, "su", "JOIN {t} su ON su.id = s.user_id"),
        (Contact, "c", "JOIN {t} c ON c.id = b.contact_id"),
        (Location, "l", "LEFT JOIN {t} l ON l.id = b.location_id"),
        (OrgUnit, "u", "JOIN {t} u ON u.id = b.unit_id"),
        (user, "cb", "LEFT JOIN {t} cb ON cb.id = b.created_by_id"),
    )


@functools.cache
def _due_sql(limit: int) -> str:
    """`_claim_due`'s query on PostgreSQL: the bookings with follow-ups due and `_DUE_RELATED`
    (the contact's organisation is the booking's, read once). The limit is written into the
    statement, as the ORM does: as a parameter, PostgreSQL's generic plan for the prepared
    statement does not know it is small and joins whole tables (measured: 18 ms of database
    CPU per one-booking pass instead of 1.4)."""
    parts = _due_parts()
    columns = ", ".join(select_columns(alias, model) for model, alias, _join in parts)
    joins = " ".join(join.format(t=model._meta.db_table) for model, _alias, join in parts[1:])
    return (
        f"SELECT {columns} FROM {Booking._meta.db_table} b {joins}"
        f" WHERE b.effects_due ORDER BY b.id LIMIT {int(limit)} FOR UPDATE OF b SKIP LOCKED"
    )


def _claim_due(limit: int) -> list[Booking]:
    """Lock up to `limit` bookings with follow-ups due, oldest first, skipping rows another
    pump (or a change of the booking) holds; with `_DUE_RELATED` loaded. On PostgreSQL one plain
    query: the ORM compiled this nine-table query afresh on every pass, which made a pass that
    finds one booking — what a worker sees when bookings arrive one at a time — cost 9.0 ms of
    the worker's CPU; now 3.2 (and the database's 2.2 → 1.4 ms; a pass of 100 bookings is
    unchanged at about 1.2 ms per booking)."""
    if connection.vendor != "postgresql":
        return list(
            Booking.objects.filter(effects_due=True)
            .order_by("pk")
            .select_for_update(skip_locked=True, of=("self",))
            .select_related(*_DUE_RELATED)[:limit]
        )
    with connection.cursor() as cursor:
        cursor.execute(_due_sql(limit))
        rows = cursor.fetchall()
    models = [model for model, _alias, _join in _due_parts()]
    due = []
    for row in rows:
        booking, org, type_, staff, staff_user, contact, location, unit, created_by = (
            models_from_row(row, models)
        )
        staff.user = staff_user
        if contact.organisation_id == org.pk:
            contact.organisation = org
        booking.organisation, booking.type, booking.staff = org, type_, staff
        booking.contact, booking.location, booking.unit = contact, location, unit
        booking.created_by = created_by
        due.append(booking)
    return due


def booking_effects_apply_pending(*, limit: int = 100) -> int:
    """The bookings pump: the deferred follow-ups of up to `limit` bookings, oldest first, in
    one transaction; returns how many bookings were done. Rows are claimed with SKIP LOCKED, so
    several workers share the queue, and a booking being changed meanwhile (its change applies
    them itself) is skipped.

    The batch is written at once (its timeline entries in one insert, its e-mails and SMS in
    another, each organisation's channels read once); if any booking's follow-ups fail, the
    batch is written again one booking at a time, each in a savepoint, so only the failing
    one's are dropped (logged)."""
    with transaction.atomic():
        due = _claim_due(limit)
        if not due:
            return 0
        failed = 0
        try:
            with transaction.atomic(), channels_read_once(), outbox_batch():
                entries: list = []
                for booking in due:
                    _due_effects(booking, entries)
                TimelineEntry.objects.bulk_create(entries)
        except Exception:
            with channels_read_once():
                failed = sum(not _apply_due_effects(booking) for booking in due)
        Booking.objects.filter(pk__in=[b.pk for b in due]).update(effects_due=False)
    if failed:
        logger.error("%s of %s bookings' follow-ups failed", failed, len(due))
    return len(due)


def _schedule_hold_expiry(booking: Booking) -> None:
    """Enqueue, with the booking's transaction, the task that cancels the hold once it lapses."""
    from .tasks import expire_holds

    enqueue_with_transaction(expire_holds.using(run_after=booking.hold_expires_at))


def booking_create(
    *,
    type: AppointmentType,
    staff: Staff,
    contact,
    start: datetime.datetime,
    actor=None,
    hold_minutes: int | None = None,
    seats: int = 1,
    services: Sequence[AppointmentType] = (),
    source: str = BookingSource.STAFF,
    location=None,
    notes: str = "",
    enforce_availability: bool = True,
    defer_effects: bool = False,
    now: datetime.datetime | None = None,
) -> Booking:
    """Book `start` with `staff` for `contact`.

    `services` are further combinable types done in the same visit (S4.9): the visit's length,
    buffers, skills and rules come from the combined `VisitSpec`. With `hold_minutes` the booking
    is a hold that expires unless confirmed; without, it is confirmed at once. `location` is the
    customer's address for in-person types (saved here if it is not yet). With
    `enforce_availability` (the default) every hard rule is re-checked under the staff lock;
    staff may pass False to book outside the published availability (overlaps are refused
    whatever the flag). With `defer_effects` the timeline entry and the customer's message are
    left to the bookings pump (`effects_due`; see the module's docstring). Raises ValidationError
    for bad input and Conflict when the time was taken.
    """
    now = now or timezone.now()
    _validate_parties(type=type, staff=staff, contact=contact, location=location)
    spec, extras = _combined_spec(type=type, services=services)
    _validate_start(spec=spec, start=start, now=now)
    if source not in BookingSource.values:
        raise ValidationError({"source": _("Choose a valid source.")})
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
    end, blocked_start, blocked_end = _interval(spec, start)

    def create() -> Booking:
        # The lock serialises every write for this staff member; the row's unit is read fresh.
        unit_id = _lock_staff(staff.pk)
        taken = _check_free(
            type=type,
            staff_id=staff.pk,
            start=start,
            blocked_start=blocked_start,
            blocked_end=blocked_end,
            seats=seats,
            now=now,
        )
        # Joining a group session that already exists needs no new availability check: the
        # session's time was checked when its first seat was booked.
        if enforce_availability and taken == 0:
            _check_bookable(spec=spec, staff=staff, start=start, location=location, now=now)
        if location is not None and location.pk is None:
            location.save()
        held = hold_minutes is not None
        booking = Booking(
            organisation_id=type.organisation_id,
            type=type,
            staff=staff,
            contact=contact,
            unit_id=unit_id,
            start=start,
            end=end,
            blocked_start=blocked_start,
            blocked_end=blocked_end,
            status=BookingStatus.HELD if held else BookingStatus.CONFIRMED,
            hold_expires_at=now + datetime.timedelta(minutes=hold_minutes) if held else None,
            exclusive=type.capacity == 1,
            location=location,
            seats=seats,
            source=source,
            created_by=_user(actor),
            notes=notes,
            effects_due=defer_effects,
        )
        # Related objects the caller already loaded are reused (the message and the API
        # response need them), so no query fetches them again.
        if AppointmentType.organisation.is_cached(type):
            booking.organisation = type.organisation
        if Staff.unit.is_cached(staff) and staff.unit_id == unit_id:
            booking.unit = staff.unit
        # The booking and its audit row in one statement on PostgreSQL (a plain save elsewhere).
        insert_with_history(booking)
        if extras:
            booking.services.set(extras)
        if not defer_effects:
            _created_effects(booking, actor=actor)
        if held:
            _schedule_hold_expiry(booking)
        return booking

    return _guarded(create)


def _check_still_free(current: Booking, *, now: datetime.datetime) -> None:
    """A lapsed hold's time, re-checked under the staff lock before it is confirmed after all."""
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


def _mark_confirmed(current: Booking, *, actor=None, revived: bool = False) -> Booking:
    """Confirm a (locked) hold: status, audit reason, timeline, the customer's message."""
    current.status = BookingStatus.CONFIRMED
    current.hold_expires_at = None
    fields = ["status", "hold_expires_at", "updated_at"]
    data = {"booking": str(current.public_id)}
    if revived:
        current.cancelled_at = None
        current._change_reason = "paid after the hold lapsed"
        fields.append("cancelled_at")
        data["revived"] = True
    current.save(update_fields=fields)
    timeline_add(
        contact=current.contact,
        kind="booking.confirmed",
        summary=_("Booking confirmed for %(start)s") % {"start": current.start.isoformat()},
        data=data,
        actor=actor,
    )
    notifications.booking_changed(booking=current, event="confirmed")
    return current


def booking_confirm(
    *, booking: Booking, actor=None, now: datetime.datetime | None = None
) -> Booking:
    """Turn a hold into a confirmed booking. An expired hold whose time is taken meanwhile
    raises Conflict."""
    now = now or timezone.now()

    def confirm() -> Booking:
        Staff.objects.select_for_update().get(pk=booking.staff_id)
        current = Booking.objects.select_for_update().get(pk=booking.pk)
        _effects_first(current)
        if current.status == BookingStatus.CONFIRMED:
            return current
        lapsed = current.hold_expires_at is not None and current.hold_expires_at <= now
        if current.status == BookingStatus.CANCELLED and lapsed:
            # The hold lapsed and was released for someone else (see _check_free).
            raise _taken()
        if current.status != BookingStatus.HELD:
            raise ValidationError({"status": _("Only a held booking can be confirmed.")})
        if lapsed:
            # The hold lapsed: confirm only if nobody took the time meanwhile.
            _check_still_free(current, now=now)
        return _mark_confirmed(current, actor=actor)

    result = _guarded(confirm)
    booking.refresh_from_db()
    return result


def booking_revive_paid_hold(
    *, booking: Booking, actor=None, now: datetime.datetime | None = None
) -> Booking:
    """Its prepayment arrived: confirm the hold. A hold already cancelled because it lapsed (by the
    expiry job, or released for another booking) is revived and confirmed if its time is still
    free and ahead; else Conflict (the caller refunds). Any other state: ValidationError."""
    now = now or timezone.now()
    current = Booking.objects.only("status", "hold_expires_at").get(pk=booking.pk)
    lapsed = current.hold_expires_at is not None and current.hold_expires_at <= now
    if current.status != BookingStatus.CANCELLED or not lapsed:
        return booking_confirm(booking=booking, actor=actor, now=now)

    def revive() -> Booking:
        Staff.objects.select_for_update().get(pk=booking.staff_id)
        current = Booking.objects.select_for_update().select_related("type").get(pk=booking.pk)
        _effects_first(current)
        if current.status == BookingStatus.CONFIRMED:
            return current
        if current.status != BookingStatus.CANCELLED or current.hold_expires_at is None:
            raise ValidationError({"status": _("Only a held booking can be confirmed.")})
        if current.start <= now:
            raise _taken()
        _check_still_free(current, now=now)
        return _mark_confirmed(current, actor=actor, revived=True)

    result = _guarded(revive)
    booking.refresh_from_db()
    return result


def booking_cancel(
    *,
    booking: Booking,
    actor=None,
    reason: str = "",
    enforce_window: bool = True,
    notify: bool = True,
    now: datetime.datetime | None = None,
) -> Booking:
    """Cancel. With `enforce_window` (customers), a confirmed booking can no longer be cancelled
    inside the type's cancel window (error on field "start"); staff may pass False. `notify`
    False sends the customer no message (a work order whose technician declined: the visit is
    booked again with someone else, and that booking's message tells them)."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    with transaction.atomic():
        current = Booking.objects.select_for_update().select_related("type").get(pk=booking.pk)
        _effects_first(current)
        if current.status == BookingStatus.CANCELLED:
            return current
        if current.status not in ACTIVE_STATUSES:
            raise ValidationError({"status": _("This booking can no longer be cancelled.")})
        window = datetime.timedelta(hours=current.type.cancel_window_hours)
        late = current.status == BookingStatus.CONFIRMED and current.start - window < now
        from slotwise.payments.booking import booking_cancelled, late_cancel_allowed

        # A prepaid booking may be cancelled late (until it starts): the window decides the money.
        if enforce_window and late and not late_cancel_allowed(current, now=now):
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
        current.cancelled_at = now
        current._change_reason = reason[:100] or None
        current.save(update_fields=["status", "hold_expires_at", "cancelled_at", "updated_at"])
        data = {"booking": str(current.public_id)}
        if reason:
            data["reason"] = reason
        timeline_add(
            contact=current.contact,
            kind="booking.cancelled",
            summary=_("Booking for %(start)s cancelled") % {"start": current.start.isoformat()},
            data=data,
            actor=actor,
        )
        if notify:
            notifications.booking_changed(booking=current, event="cancelled")
        booking_cancelled(booking=current, by_customer=enforce_window, late=late, actor=actor)
    booking.refresh_from_db()
    return current


def booking_mark(*, booking: Booking, status: str, actor=None) -> Booking:
    """Record what happened: no-show or done."""
    if status not in (BookingStatus.NO_SHOW, BookingStatus.DONE):
        raise ValidationError({"status": _("Choose no-show or done.")})
    with transaction.atomic():
        current = Booking.objects.select_for_update().get(pk=booking.pk)
        _effects_first(current)
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
        if status == BookingStatus.NO_SHOW:
            from slotwise.payments.booking import no_show_fee_charge

            no_show_fee_charge(booking=current, actor=actor)
    booking.refresh_from_db()
    return current


def booking_reschedule(
    *,
    booking: Booking,
    start: datetime.datetime,
    staff: Staff | None = None,
    actor=None,
    enforce_availability: bool = True,
    enforce_window: bool = True,
    now: datetime.datetime | None = None,
) -> Booking:
    """Move to a new start (and optionally to another staff member of the organisation), with
    the same checks as creating. With `enforce_window` (customers) it is refused (field "start")
    once inside the type's reschedule window. Raises Conflict if the new time is taken."""
    now = now or timezone.now()
    type = booking.type
    spec = _spec([type, *booking.services.exclude(pk=type.pk)])
    _validate_start(spec=spec, start=start, now=now)
    if staff is not None and staff.organisation_id != booking.organisation_id:
        raise ValidationError(
            {"staff": _("This staff member does not belong to the organisation.")}
        )
    end, blocked_start, blocked_end = _interval(spec, start)

    def reschedule() -> Booking:
        target_id = staff.pk if staff is not None else booking.staff_id
        # Lock both staff rows in a fixed order so two moves never deadlock each other.
        locked = {
            s.pk: s
            for s in Staff.objects.select_for_update()
            .filter(pk__in={booking.staff_id, target_id})
            .order_by("pk")
        }
        current = Booking.objects.select_for_update().get(pk=booking.pk)
        _effects_first(current)
        if current.status not in ACTIVE_STATUSES:
            raise ValidationError({"status": _("This booking can no longer be moved.")})
        window = datetime.timedelta(hours=type.reschedule_window_hours)
        if enforce_window and current.start - window < now:
            raise ValidationError(
                {
                    "start": ValidationError(
                        _("It is too late to reschedule: move at least %(hours)s hours before."),
                        code="reschedule_window",
                        params={"hours": type.reschedule_window_hours},
                    )
                }
            )
        taken = _check_free(
            type=type,
            staff_id=target_id,
            start=start,
            blocked_start=blocked_start,
            blocked_end=blocked_end,
            seats=current.seats,
            now=now,
            exclude_pk=current.pk,
        )
        if enforce_availability and taken == 0:
            _check_bookable(
                spec=spec,
                staff=locked[target_id],
                start=start,
                location=current.location,
                now=now,
                exclude_booking=current,
            )
        old_start, old_staff_id = current.start, current.staff_id
        current.start, current.end = start, end
        current.blocked_start, current.blocked_end = blocked_start, blocked_end
        fields = ["start", "end", "blocked_start", "blocked_end", "updated_at"]
        if target_id != old_staff_id:
            current.staff = locked[target_id]
            current.unit_id = locked[target_id].unit_id
            fields += ["staff", "unit"]
        current.save(update_fields=fields)
        timeline_add(
            contact=current.contact,
            kind="booking.rescheduled",
            summary=_("Booking moved from %(old)s to %(new)s")
            % {"old": old_start.isoformat(), "new": start.isoformat()},
            data={"booking": str(current.public_id), "from": old_start.isoformat()},
            actor=actor,
        )
        notifications.booking_changed(booking=current, event="rescheduled")
        return current

    result = _guarded(reschedule)
    booking.refresh_from_db()
    return result


def booking_hold_expire(*, now: datetime.datetime | None = None) -> int:
    """Cancel every hold that has lapsed; returns how many. Safe to run concurrently (rows are
    locked and skipped if another worker has them). No message goes to the customer: a lapsed
    hold is an abandoned booking, not a cancelled appointment; the timeline records it."""
    now = now or timezone.now()
    with transaction.atomic():
        lapsed = (
            Booking.objects.filter(status=BookingStatus.HELD, hold_expires_at__lte=now)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("contact__organisation")
        )
        count = _cancel_lapsed(list(lapsed), now=now)
    # Their open payments are cancelled at the provider (outside the transaction: HTTP calls).
    from slotwise.payments.booking import booking_payments_lapse

    booking_payments_lapse(now=now)
    return count


def booking_book(
    *,
    organisation,
    type: AppointmentType,
    staff: Staff,
    start: datetime.datetime,
    actor,
    services: Sequence[AppointmentType] = (),
    contact=None,
    new_contact: dict | None = None,
    location=None,
    hold_minutes: int | None = None,
    seats: int = 1,
    notes: str = "",
    source: str = BookingSource.API,
    defer_effects: bool = False,
    now: datetime.datetime | None = None,
) -> Booking:
    """Book an option for an existing `contact` or a new one from `new_contact` (first_name,
    last_name, phone, email). One transaction: when the booking fails (bad input or a lost
    race) the new contact is not kept either."""
    if type.organisation_id != organisation.pk:
        raise ValidationError({"type": _("Unknown appointment type.")})
    if contact is not None and contact.organisation_id != organisation.pk:
        raise ValidationError({"contact": _("Unknown contact.")})
    common = {
        "type": type,
        "staff": staff,
        "start": start,
        "actor": actor,
        "services": services,
        "location": location,
        "hold_minutes": hold_minutes,
        "seats": seats,
        "notes": notes,
        "source": source,
        "defer_effects": defer_effects,
        "now": now,
    }
    if contact is not None:
        return booking_create(contact=contact, **common)
    from slotwise.customers.services import contact_create

    data = {k: (v or "").strip() for k, v in (new_contact or {}).items()}
    if not data.get("first_name"):
        raise ValidationError({"contact": _("Choose a customer or enter a new one.")})
    if not data.get("phone") and not data.get("email"):
        raise ValidationError({"phone": _("Enter the customer's phone number or e-mail.")})
    with transaction.atomic():
        if location is not None and location.pk is None:
            location.save()
        contact = contact_create(
            organisation=organisation,
            first_name=data["first_name"],
            last_name=data.get("last_name", ""),
            phone=data.get("phone", ""),
            email=data.get("email", ""),
            location=location,
            actor=actor,
        )
        return booking_create(contact=contact, **common)
