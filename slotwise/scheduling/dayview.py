"""Reads for the manager's day view (S0.9): one query per table for a whole unit, whatever the
number of staff. The caller has already checked that the user may see `unit`."""

from __future__ import annotations

import datetime
from collections import defaultdict
from zoneinfo import ZoneInfo

from django.db.models import Q

from slotwise.bookings.models import Booking, BookingStatus
from slotwise.org.models import Organisation, OrgUnit, Staff

from .models import AvailabilityException, SchedulingPolicy, TimeOff, WorkingHours


def local_day_bounds(organisation: Organisation, day: datetime.date):
    tz = ZoneInfo(organisation.time_zone)
    start = datetime.datetime.combine(day, datetime.time(), tzinfo=tz)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(), tzinfo=tz)
    return start.astimezone(datetime.UTC), end.astimezone(datetime.UTC)


def _is_holiday(organisation: Organisation, day: datetime.date) -> bool:
    policy = SchedulingPolicy.objects.filter(organisation=organisation).first()
    if policy is not None and not policy.observe_public_holidays:
        return False
    try:
        from .holidays import closed_dates
    except ImportError:  # pragma: no cover - part of the engine integration
        return False
    return day in closed_dates(organisation.country, day, day)


def day_context(*, organisation: Organisation, unit: OrgUnit, day: datetime.date, gaps) -> dict:
    """Everything the day view shows for `unit` and the units below it on `day` (local date).

    `gaps` is `selectors.agenda_gaps` (free working time per staff member)."""
    tz = ZoneInfo(organisation.time_zone)
    day_start, day_end = local_day_bounds(organisation, day)
    members = list(
        Staff.objects.filter(organisation=organisation, unit__path__startswith=unit.path)
        .filter(active_from__lte=day)
        .filter(Q(active_to__isnull=True) | Q(active_to__gte=day))
        .select_related("user", "unit")
        .order_by("unit__path", "user__first_name", "user__last_name")
    )
    ids = [m.pk for m in members]
    weekly: dict[int, list] = defaultdict(list)
    for h in WorkingHours.objects.filter(staff_id__in=ids, weekday=day.weekday()).order_by("start"):
        weekly[h.staff_id].append((h.start, h.end))
    exceptions: dict[int, list] = defaultdict(list)
    for x in AvailabilityException.objects.filter(staff_id__in=ids, date=day).order_by("start"):
        exceptions[x.staff_id].append(x)
    items: dict[int, list] = defaultdict(list)
    for off in TimeOff.objects.filter(staff_id__in=ids, start__lt=day_end, end__gt=day_start):
        items[off.staff_id].append(
            {
                "kind": "time_off",
                "start": max(off.start, day_start).astimezone(tz),
                "end": min(off.end, day_end).astimezone(tz),
                "obj": off,
            }
        )
    bookings = (
        Booking.objects.filter(staff_id__in=ids, start__lt=day_end, end__gt=day_start)
        .select_related("type", "contact")
        .order_by("start")
    )
    for b in bookings:
        items[b.staff_id].append(
            {
                "kind": "booking",
                "start": b.start.astimezone(tz),
                "end": b.end.astimezone(tz),
                "obj": b,
                "cancelled": b.status == BookingStatus.CANCELLED,
            }
        )
    free = (
        gaps(organisation=organisation, staff_ids=ids, window_start=day_start, window_end=day_end)
        if ids
        else {}
    )
    for staff_id, ranges in (free or {}).items():
        for start, end in ranges:
            items[staff_id].append(
                {"kind": "gap", "start": start.astimezone(tz), "end": end.astimezone(tz)}
            )
    holiday = _is_holiday(organisation, day)
    rows = []
    for m in members:
        own = exceptions.get(m.pk, [])
        if own:
            day_off = any(x.start is None for x in own)
            hours = [] if day_off else [(x.start, x.end) for x in own]
            changed = True
        else:
            day_off, hours, changed = False, weekly.get(m.pk, []), False
        kinds_order = {"booking": 0, "time_off": 1, "gap": 2}
        rows.append(
            {
                "staff": m,
                "hours": hours,
                "day_off": day_off or (holiday and not (changed and hours)),
                "hours_changed": changed,
                "items": sorted(
                    items.get(m.pk, []), key=lambda i: (i["start"], kinds_order[i["kind"]])
                ),
                "bookings": sum(
                    1
                    for i in items.get(m.pk, [])
                    if i["kind"] == "booking" and not i.get("cancelled")
                ),
            }
        )
    return {"rows": rows, "holiday": holiday, "tz": organisation.time_zone}
