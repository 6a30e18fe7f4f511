"""Writes for availability (working hours, dated exceptions, time off), appointment types, the
scheduling policy, and the booker's "book for this customer" step.

Keyword-only, atomic, audited through simple-history (the actor is recorded as the history user).
Bad input raises `ValidationError` field by field, translated, and nothing is written.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from slotwise.org.models import Organisation, OrgUnit, Region, Skill, Staff

from .models import (
    WEIGHT_NAMES,
    AppointmentMode,
    AppointmentType,
    AppointmentTypeSkill,
    AvailabilityException,
    Prepayment,
    SchedulingPolicy,
    TimeOff,
    WorkingHours,
)

#: The most ranges one weekday may have (e.g. morning, afternoon, evening, night).
MAX_RANGES_PER_DAY = 4
#: Field names of the weekdays, Monday = 0 (the keys of field errors of `working_hours_set`).
WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

TimeRange = tuple[datetime.time, datetime.time]


def _with_actor(obj, actor):
    if actor is not None and getattr(actor, "is_authenticated", False):
        obj._history_user = actor
    return obj


def _fmt(t: datetime.time) -> str:
    return t.strftime("%H:%M")


def _lock_staff(staff: Staff) -> None:
    """Serialise availability writes for one staff member."""
    Staff.objects.select_for_update().filter(pk=staff.pk).first()


# --- working hours ------------------------------------------------------------------------------


def _check_day(ranges: Sequence[TimeRange]) -> str | None:
    """The first problem with one weekday's ranges, or None."""
    if len(ranges) > MAX_RANGES_PER_DAY:
        return _("At most %(count)s ranges per day.") % {"count": MAX_RANGES_PER_DAY}
    for start, end in ranges:
        if not isinstance(start, datetime.time) or not isinstance(end, datetime.time):
            return _("Enter times like 08:30-12:00.")
        if end <= start:
            return _("%(start)s–%(end)s: the end must be after the start.") % {
                "start": _fmt(start),
                "end": _fmt(end),
            }
    ordered = sorted(ranges)
    for (s1, e1), (s2, e2) in zip(ordered, ordered[1:], strict=False):
        if s2 < e1:
            return _("%(a)s and %(b)s overlap.") % {
                "a": f"{_fmt(s1)}–{_fmt(e1)}",
                "b": f"{_fmt(s2)}–{_fmt(e2)}",
            }
    return None


@transaction.atomic
def working_hours_set(
    *, staff: Staff, weekday_ranges: Mapping[int, Sequence[TimeRange]], actor=None
) -> list[WorkingHours]:
    """Replace the staff member's weekly hours. A weekday missing from `weekday_ranges` (or with
    an empty list) has no hours. Errors are keyed by weekday ("mon" … "sun")."""
    errors: dict[str, str] = {}
    for weekday, ranges in weekday_ranges.items():
        if weekday not in range(7):
            raise ValidationError({"weekday": _("Unknown weekday.")})
        problem = _check_day(list(ranges))
        if problem:
            errors[WEEKDAY_KEYS[weekday]] = problem
    if errors:
        raise ValidationError(errors)
    _lock_staff(staff)
    wanted = {(wd, s, e) for wd, ranges in weekday_ranges.items() for s, e in ranges}
    existing = list(WorkingHours.objects.filter(staff=staff))
    have = {(h.weekday, h.start, h.end): h for h in existing}
    for key, hours in have.items():
        if key not in wanted:
            _with_actor(hours, actor).delete()
    for weekday, start, end in sorted(wanted - set(have)):
        _with_actor(WorkingHours(staff=staff, weekday=weekday, start=start, end=end), actor).save()
    return list(WorkingHours.objects.filter(staff=staff).order_by("weekday", "start"))


# --- dated exceptions ---------------------------------------------------------------------------


def _org_today(organisation: Organisation, now: datetime.datetime | None) -> datetime.date:
    now = now or timezone.now()
    return now.astimezone(ZoneInfo(organisation.time_zone)).date()


@transaction.atomic
def availability_exception_add(
    *,
    staff: Staff,
    date: datetime.date,
    start: datetime.time | None = None,
    end: datetime.time | None = None,
    note: str = "",
    actor=None,
    now: datetime.datetime | None = None,
) -> AvailabilityException:
    """Different hours on one date (`start`–`end`), or the whole day off (both empty). A day with
    exceptions uses only its exception ranges, so a day off and ranges don't mix."""
    errors: dict[str, str] = {}
    if not isinstance(date, datetime.date):
        errors["date"] = _("Enter a valid date.")
    elif date < _org_today(staff.organisation, now):
        errors["date"] = _("This date is in the past.")
    if (start is None) != (end is None):
        errors["end" if start is not None else "start"] = _(
            "Enter both times, or neither for a day off."
        )
    elif start is not None and end <= start:
        errors["end"] = _("The end must be after the start.")
    if len(note or "") > 200:
        errors["note"] = _("At most 200 characters.")
    if errors:
        raise ValidationError(errors)
    _lock_staff(staff)
    same_day = list(AvailabilityException.objects.filter(staff=staff, date=date))
    if start is None:
        if same_day:
            raise ValidationError(
                {"date": _("This date already has different hours; remove them first.")}
            )
    else:
        if any(x.start is None for x in same_day):
            raise ValidationError({"date": _("This date is already a day off.")})
        for x in same_day:
            if x.start < end and start < x.end:
                raise ValidationError(
                    {
                        "start": _("Overlaps %(range)s on this date.")
                        % {"range": f"{_fmt(x.start)}–{_fmt(x.end)}"}
                    }
                )
    exc = AvailabilityException(
        staff=staff, date=date, start=start, end=end, note=(note or "").strip()
    )
    _with_actor(exc, actor).save()
    return exc


@transaction.atomic
def availability_exception_delete(*, exception: AvailabilityException, actor=None) -> None:
    _with_actor(exception, actor).delete()


# --- time off -----------------------------------------------------------------------------------


def _to_utc(value, tz: ZoneInfo, field: str) -> datetime.datetime:
    if not isinstance(value, datetime.datetime):
        raise ValidationError({field: _("Enter a valid date and time.")})
    if timezone.is_naive(value):
        value = value.replace(tzinfo=tz)
    return value.astimezone(datetime.UTC)


@transaction.atomic
def time_off_add(
    *,
    staff: Staff,
    start: datetime.datetime,
    end: datetime.datetime,
    reason: str = "",
    actor=None,
) -> TimeOff:
    """Absence from `start` until `end`. Naive values are the organisation's local wall-clock
    time; stored in UTC. Overlapping time off of the same person is refused."""
    tz = ZoneInfo(staff.organisation.time_zone)
    errors: dict[str, str] = {}
    try:
        start_utc = _to_utc(start, tz, "start")
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
        start_utc = None
    try:
        end_utc = _to_utc(end, tz, "end")
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
        end_utc = None
    if start_utc and end_utc and end_utc <= start_utc:
        errors["end"] = _("The end must be after the start.")
    if len(reason or "") > 200:
        errors["reason"] = _("At most 200 characters.")
    if errors:
        raise ValidationError(errors)
    _lock_staff(staff)
    if TimeOff.objects.filter(staff=staff, start__lt=end_utc, end__gt=start_utc).exists():
        raise ValidationError({"start": _("Overlaps time off that is already planned.")})
    off = TimeOff(staff=staff, start=start_utc, end=end_utc, reason=(reason or "").strip())
    _with_actor(off, actor).save()
    return off


@transaction.atomic
def time_off_delete(*, time_off: TimeOff, actor=None) -> None:
    _with_actor(time_off, actor).delete()


# --- appointment types --------------------------------------------------------------------------

TYPE_FIELDS = frozenset(
    {
        "name",
        "slug",
        "duration_minutes",
        "buffer_before",
        "buffer_after",
        "mode",
        "capacity",
        "min_notice_minutes",
        "horizon_days",
        "cancel_window_hours",
        "reschedule_window_hours",
        "price",
        "currency",
        "prepayment",
        "deposit_amount",
        "late_cancel_keeps_deposit",
        "no_show_fee",
        "sold_in_webshop",
        "combinable",
        "slot_step_minutes",
        "active",
        *(f"weight_{name}" for name in WEIGHT_NAMES),
    }
)


def _merge(errors: dict[str, list[str]], exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    else:
        errors.setdefault("__all__", []).extend(exc.messages)


@transaction.atomic
def appointment_type_save(
    *,
    organisation: Organisation,
    instance: AppointmentType | None = None,
    actor=None,
    skills: Mapping[Skill, int] | None = None,
    allowed_units: Iterable[OrgUnit] | None = None,
    allowed_regions: Iterable[Region] | None = None,
    **fields,
) -> AppointmentType:
    """Create (no `instance`) or change an appointment type of `organisation`. `skills` maps a
    required skill to its minimum level (1–5) and replaces the requirements; `allowed_units` and
    `allowed_regions` replace the lists (empty = no restriction). None leaves them as they are."""
    errors: dict[str, list[str]] = {}
    unknown = set(fields) - TYPE_FIELDS
    if unknown:
        raise ValidationError({name: _("This field cannot be changed here.") for name in unknown})
    if instance is not None and instance.organisation_id != organisation.pk:
        raise ValidationError({"__all__": _("This appointment type belongs elsewhere.")})
    obj = instance if instance is not None else AppointmentType(organisation=organisation)
    if instance is None:
        fields.setdefault("currency", organisation.currency)
    for name, value in fields.items():
        if name in ("name", "slug", "currency") and isinstance(value, str):
            value = value.strip()
        if name == "currency" and isinstance(value, str):
            value = value.upper()
        setattr(obj, name, value)

    # Rules across fields (the single-field ones come from the model's validators below).
    if obj.duration_minutes is not None and obj.duration_minutes <= 0:
        errors.setdefault("duration_minutes", []).append(_("Enter a duration above zero."))
    if obj.capacity is not None and obj.capacity < 1:
        errors.setdefault("capacity", []).append(_("Enter at least 1."))
    if obj.price is not None and Decimal(obj.price) < 0:
        errors.setdefault("price", []).append(_("The price cannot be negative."))
    if obj.deposit_amount is not None and Decimal(obj.deposit_amount) < 0:
        errors.setdefault("deposit_amount", []).append(_("The deposit cannot be negative."))
    if obj.no_show_fee is not None and Decimal(obj.no_show_fee) < 0:
        errors.setdefault("no_show_fee", []).append(_("The no-show fee cannot be negative."))
    if obj.sold_in_webshop and not (obj.price and Decimal(obj.price) > 0):
        errors.setdefault("sold_in_webshop", []).append(
            _("A service sold in the webshop needs a price above zero.")
        )
    if obj.prepayment == Prepayment.DEPOSIT:
        if not obj.deposit_amount or Decimal(obj.deposit_amount) <= 0:
            errors.setdefault("deposit_amount", []).append(
                _("Enter the deposit, or choose another prepayment rule.")
            )
        elif obj.price is not None and Decimal(obj.deposit_amount) > Decimal(obj.price):
            errors.setdefault("deposit_amount", []).append(
                _("The deposit cannot be more than the price.")
            )
    if obj.prepayment in (Prepayment.DEPOSIT, Prepayment.FULL) and not (
        obj.price and Decimal(obj.price) > 0
    ):
        errors.setdefault("prepayment", []).append(_("Prepayment needs a price above zero."))
    if obj.capacity and obj.capacity > 1 and obj.mode == AppointmentMode.CUSTOMER_ADDRESS:
        errors.setdefault("capacity", []).append(
            _("A group (more than one seat) cannot meet at a customer's address.")
        )

    skill_rows: list[tuple[Skill, int]] = []
    if skills is not None:
        for skill, level in skills.items():
            if skill.organisation_id != organisation.pk:
                errors.setdefault("skills", []).append(_("Unknown skill."))
                continue
            if not isinstance(level, int) or not 1 <= level <= 5:
                errors.setdefault("skills", []).append(
                    _("%(skill)s: choose a level from 1 to 5.") % {"skill": skill.name}
                )
                continue
            skill_rows.append((skill, level))
    units = list(allowed_units) if allowed_units is not None else None
    if units and any(u.organisation_id != organisation.pk for u in units):
        errors.setdefault("allowed_units", []).append(_("Unknown unit."))
    regions = list(allowed_regions) if allowed_regions is not None else None
    if regions and any(r.organisation_id != organisation.pk for r in regions):
        errors.setdefault("allowed_regions", []).append(_("Unknown region."))

    slug_taken = (
        AppointmentType.objects.filter(organisation=organisation, slug=obj.slug)
        .exclude(pk=obj.pk)
        .exists()
    )
    if obj.slug and slug_taken:
        errors.setdefault("slug", []).append(_("Another appointment type already uses this slug."))
    try:
        # The constraints are checked above, with field errors instead of form-wide ones.
        obj.full_clean(exclude=list(errors), validate_constraints=False)
    except ValidationError as exc:
        _merge(errors, exc)
    if errors:
        raise ValidationError(errors)

    _with_actor(obj, actor).save()
    if skills is not None:
        current = {r.skill_id: r for r in AppointmentTypeSkill.objects.filter(type=obj)}
        wanted = {skill.pk: level for skill, level in skill_rows}
        for skill_id, row in current.items():
            if skill_id not in wanted:
                _with_actor(row, actor).delete()
            elif row.min_level != wanted[skill_id]:
                row.min_level = wanted[skill_id]
                _with_actor(row, actor).save()
        for skill_id, level in wanted.items():
            if skill_id not in current:
                row = AppointmentTypeSkill(type=obj, skill_id=skill_id, min_level=level)
                _with_actor(row, actor).save()
    if units is not None:
        obj.allowed_units.set(units)
    if regions is not None:
        obj.allowed_regions.set(regions)
    return obj


# --- scheduling policy --------------------------------------------------------------------------

POLICY_FIELDS = frozenset(
    {
        "slot_step_minutes",
        "travel_source",
        "observe_public_holidays",
        "hold_minutes",
        *(f"weight_{name}" for name in WEIGHT_NAMES),
    }
)


@transaction.atomic
def scheduling_policy_save(*, organisation: Organisation, actor=None, **fields) -> SchedulingPolicy:
    """Change the organisation's scheduling policy (created with defaults if missing)."""
    unknown = set(fields) - POLICY_FIELDS
    if unknown:
        raise ValidationError({name: _("This field cannot be changed here.") for name in unknown})
    policy = SchedulingPolicy.objects.select_for_update().filter(
        organisation=organisation
    ).first() or SchedulingPolicy(organisation=organisation)
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.full_clean(exclude=["organisation"])
    _with_actor(policy, actor).save()
    return policy


# --- the booker's last step ---------------------------------------------------------------------


@transaction.atomic
def booker_book(
    *,
    organisation: Organisation,
    type: AppointmentType,
    staff: Staff,
    start: datetime.datetime,
    actor,
    services: Sequence[AppointmentType] = (),
    contact=None,
    new_contact: Mapping[str, str] | None = None,
    location=None,
    hold_minutes: int | None = None,
):
    """Book an option for a customer from the booker's screen: an existing `contact`, or a new
    one from `new_contact` (first_name, last_name, phone). One transaction: when the booking
    fails (bad input or a lost race, `Conflict`) the new contact is not kept either. With
    `hold_minutes` it is a hold waiting for the customer's payment (a prepaid type)."""
    from slotwise.bookings.services import booking_create
    from slotwise.customers.services import contact_create

    if type.organisation_id != organisation.pk or staff.organisation_id != organisation.pk:
        raise ValidationError({"start": _("This option is not available.")})
    if location is not None and location.pk is None:
        location.save()  # geocoded for this visit; kept with the booking (and a new contact)
    if contact is None:
        data = {k: (v or "").strip() for k, v in (new_contact or {}).items()}
        if not data.get("first_name") and not data.get("phone"):
            raise ValidationError({"contact": _("Choose a customer or enter a new one.")})
        if not data.get("phone"):
            raise ValidationError({"phone": _("Enter the customer's phone number.")})
        contact = contact_create(
            organisation=organisation,
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            phone=data.get("phone", ""),
            location=location,
            actor=actor,
        )
    elif contact.organisation_id != organisation.pk:
        raise ValidationError({"contact": _("Choose a customer.")})
    return booking_create(
        type=type,
        staff=staff,
        contact=contact,
        start=start,
        actor=actor,
        services=list(services),
        source="booker",
        location=location,
        hold_minutes=hold_minutes,
    )
