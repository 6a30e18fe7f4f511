"""Every write to a work order: keyword-only, in one transaction, under the order's row lock,
audited (simple-history + a `WorkOrderEvent` per status change + the contact's timeline).

The status machine lives in `transitions.py`; each service asks it first, so a forbidden move is
refused with the same clear message whether it comes from a page, the API or the technician
app's offline queue. Access (who may act on which order) is checked by the caller with the
`rules` permissions in `rules.py`; services check the state and the data.

Visits are bookings: `work_order_assign` books the technician through
`bookings.services.booking_create` (or moves the booking with `booking_reschedule` when the order
is reassigned), so the option generator and the exclusion constraint see the visit.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from slotwise.bookings import services as booking_services
from slotwise.bookings.models import ACTIVE_STATUSES as BOOKING_ACTIVE
from slotwise.bookings.models import BookingSource, BookingStatus
from slotwise.core.errors import Conflict, ValidationError
from slotwise.core.money import Money
from slotwise.customers.services import timeline_add
from slotwise.org.roles import AGENDA_ROLES

from . import money, notifications, transitions
from .models import (
    OPEN_STATUSES,
    Completion,
    Earning,
    Event,
    ExtrasRequest,
    LineKind,
    LineState,
    PayRule,
    Source,
    Status,
    WorkOrder,
    WorkOrderComment,
    WorkOrderEvent,
    WorkOrderLine,
    WorkOrderSequence,
)

#: an open order of the same customer created this recently is flagged as a possible duplicate
DUPLICATE_WINDOW = datetime.timedelta(days=14)
EDITABLE_STATUSES = (Status.DRAFT, Status.ASSIGNED, Status.ACCEPTED)


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _lock(order: WorkOrder) -> WorkOrder:
    return (
        WorkOrder.objects.select_for_update(of=("self",))
        .select_related("organisation", "contact", "technician__user", "type", "booking")
        .get(pk=order.pk)
    )


def _check_version(order: WorkOrder, expected_version: int | None) -> None:
    """The technician app sends the version it acted on; a newer one on the server wins."""
    if expected_version is not None and expected_version != order.version:
        raise Conflict(
            _("The order was changed in the meantime: it now reads “%(status)s”.")
            % {"status": order.get_status_display()},
            detail={"status": order.status, "version": order.version},
        )


def _record(
    order: WorkOrder,
    *,
    kind: str,
    from_status: str,
    actor=None,
    now: datetime.datetime,
    client_at: datetime.datetime | None = None,
    data: dict | None = None,
    fields: Sequence[str] = (),
) -> WorkOrderEvent:
    """Save `fields` + status + version, write the event and the customer's timeline entry."""
    order.version += 1
    order.save(update_fields=["status", "version", "updated_at", *fields])
    event = WorkOrderEvent.objects.create(
        order=order,
        kind=kind,
        from_status=from_status,
        to_status=order.status,
        at=now,
        client_at=client_at,
        actor=_user(actor),
        data=data or {},
    )
    timeline_add(
        contact=order.contact,
        kind=f"workorder.{kind}",
        summary=_("Order #%(number)s: %(event)s")
        % {"number": order.number, "event": Event(kind).label},
        data={"work_order": str(order.public_id), "status": order.status, **(data or {})},
        actor=actor,
        occurred_at=now,
    )
    return event


# -- money --------------------------------------------------------------------------------------


def _line_values(lines: Iterable[WorkOrderLine]) -> list[money.LineValue]:
    return [
        money.LineValue(
            quantity=line.quantity,
            unit_price=line.unit_price,
            tax_rate=line.tax_rate,
            kind=line.kind,
        )
        for line in lines
    ]


def _retotal(order: WorkOrder) -> None:
    """Store the agreed totals and the proposed total (agreed + pending) on the order."""
    lines = list(order.lines.exclude(state=LineState.REJECTED))
    agreed = money.totals(
        _line_values(x for x in lines if x.state == LineState.AGREED), order.currency
    )
    proposed = money.totals(_line_values(lines), order.currency)
    order.net_total = agreed.net.amount
    order.tax_total = agreed.tax.amount
    order.total = agreed.total.amount
    order.proposed_total = proposed.total.amount


def order_totals(order: WorkOrder) -> money.Totals:
    """The agreed totals, by kind of line."""
    return money.totals(_line_values(order.lines.filter(state=LineState.AGREED)), order.currency)


@dataclass
class LineInput:
    kind: str
    name: str
    quantity: object
    unit_price: object
    tax_rate: object = Decimal("0")
    item: object = None  # a CatalogueItem of the organisation

    def clean(self, organisation_id: int, index: int) -> tuple[dict, dict]:
        errors: dict[str, str] = {}
        prefix = f"lines.{index}."
        if self.item is not None and self.item.organisation_id != organisation_id:
            errors[prefix + "item"] = _("Choose an item of the organisation's catalogue.")
        if self.kind not in LineKind.values:
            errors[prefix + "kind"] = _("Choose labour, a service, goods or a travel charge.")
        name = (self.name or (self.item.name if self.item is not None else "")).strip()
        if not name:
            errors[prefix + "name"] = _("Enter a name.")
        values = {}
        for key, minimum, text in (
            ("quantity", Decimal("0"), _("Enter a quantity above zero.")),
            ("unit_price", None, _("Enter a price of zero or more.")),
            ("tax_rate", None, _("Enter a tax rate between 0 and 100.")),
        ):
            raw = getattr(self, key)
            try:
                value = (
                    raw if isinstance(raw, Decimal) else Decimal(str(raw).strip().replace(",", "."))
                )
                if not value.is_finite():
                    raise InvalidOperation
            except (InvalidOperation, ValueError, TypeError):
                errors[prefix + key] = text
                continue
            bad = (
                (minimum is not None and value <= minimum)
                or value < 0
                or (key == "tax_rate" and value > 100)
                or value >= Decimal("1e9")
            )
            if bad:
                errors[prefix + key] = text
            values[key] = value
        return (
            {"kind": self.kind, "name": name[:200], "item": self.item, **values},
            errors,
        )


def _clean_lines(order: WorkOrder, lines: Sequence[LineInput]) -> list[dict]:
    cleaned, errors = [], {}
    for i, line in enumerate(lines):
        values, line_errors = line.clean(order.organisation_id, i)
        errors.update(line_errors)
        cleaned.append(values)
    if errors:
        raise ValidationError(errors)
    return cleaned


# -- intake and preparation ---------------------------------------------------------------------


def _lock_sequence(organisation_id: int) -> WorkOrderSequence:
    """The organisation's order-number row, locked until the transaction ends (it serialises
    order creation per organisation, which also makes the `source_ref` check race-free)."""
    WorkOrderSequence.objects.get_or_create(organisation_id=organisation_id)
    return WorkOrderSequence.objects.select_for_update().get(organisation_id=organisation_id)


def _take_number(sequence: WorkOrderSequence) -> int:
    number = sequence.next_number
    sequence.next_number = number + 1
    sequence.save(update_fields=["next_number"])
    return number


def intake_unit(organisation):
    """Where an order goes when neither the caller nor the customer says: the highest unit with
    an active manager (the dispatch office), so the people who prepare and dispatch orders see
    it; the top unit when the organisation has no manager below its admins."""
    from slotwise.org.models import OrgUnit, Staff
    from slotwise.org.roles import Role

    today = timezone.localdate()
    managers = (
        Staff.objects.filter(
            organisation=organisation, roles__role=Role.MANAGER, active_from__lte=today
        )
        .filter(models.Q(active_to__isnull=True) | models.Q(active_to__gte=today))
        .select_related("unit")
    )
    units = sorted({m.unit for m in managers}, key=lambda u: (u.path.count("/"), u.path))
    if units:
        return units[0]
    return OrgUnit.objects.filter(organisation=organisation).order_by("path").first()


def _possible_duplicate(order: WorkOrder) -> WorkOrder | None:
    """An open order of the same customer created in the last `DUPLICATE_WINDOW` (S2.1: the same
    request arriving by phone and by e-mail), or one at the same address."""
    since = timezone.now() - DUPLICATE_WINDOW
    qs = WorkOrder.objects.filter(
        organisation_id=order.organisation_id,
        status__in=OPEN_STATUSES,
        created_at__gte=since,
    ).exclude(pk=order.pk)
    same_contact = qs.filter(contact_id=order.contact_id).order_by("created_at").first()
    if same_contact is not None:
        return same_contact
    if order.location_id and order.location.address:
        return (
            qs.filter(
                location__postcode=order.location.postcode,
                location__address__iexact=order.location.address,
            )
            .order_by("created_at")
            .first()
        )
    return None


def _check_window(window_start, window_end) -> None:
    errors = {}
    for name, value in (("window_start", window_start), ("window_end", window_end)):
        if value is not None and (
            not isinstance(value, datetime.datetime) or timezone.is_naive(value)
        ):
            errors[name] = _("Enter a valid date and time.")
    if errors:
        raise ValidationError(errors)
    if (window_start is None) != (window_end is None):
        raise ValidationError(
            {
                "window_end" if window_end is None else "window_start": _(
                    "Enter both ends of the visit window."
                )
            }
        )
    if window_start is not None and window_end <= window_start:
        raise ValidationError({"window_end": _("The end must be after the start.")})


def _check_type(organisation_id: int, type) -> None:
    if type is not None and type.organisation_id != organisation_id:
        raise ValidationError({"type": _("Choose work of the organisation.")})


def work_order_create(
    *,
    organisation,
    contact,
    source: str,
    title: str,
    description: str = "",
    source_ref: str = "",
    type=None,
    location=None,
    window_start: datetime.datetime | None = None,
    window_end: datetime.datetime | None = None,
    unit=None,
    lines: Sequence[LineInput] = (),
    actor=None,
) -> WorkOrder:
    """A new order in status *New* on `contact` (S2.1). With `source_ref` the call is idempotent:
    the order already made from that reference is returned. A possible duplicate (an open order
    of the same customer or address from the last two weeks) is flagged, not refused."""
    errors = {}
    title = (title or "").strip()
    if not title:
        errors["title"] = _("Describe the work in a few words.")
    if source not in Source.values:
        errors["source"] = _("Choose a valid source.")
    if contact is None or contact.organisation_id != organisation.pk:
        errors["contact"] = _("Choose a customer of the organisation.")
    if unit is not None and unit.organisation_id != organisation.pk:
        errors["unit"] = _("Choose a unit of the organisation.")
    if location is not None and location.organisation_id != organisation.pk:
        errors["location"] = _("The address belongs to another organisation.")
    if errors:
        raise ValidationError(errors)
    _check_type(organisation.pk, type)
    _check_window(window_start, window_end)
    source_ref = (source_ref or "")[:120]
    if source_ref:
        existing = WorkOrder.objects.filter(
            organisation=organisation, source=source, source_ref=source_ref
        ).first()
        if existing is not None:
            return existing
    if unit is None:
        unit = contact.unit or intake_unit(organisation)
        if unit is None:
            raise ValidationError({"unit": _("The organisation has no unit yet.")})
    now = timezone.now()
    with transaction.atomic():
        sequence = _lock_sequence(organisation.pk)
        if source_ref:
            # Checked again under the organisation's sequence lock: of two requests with the
            # same reference at the same time, the second finds the first's order here.
            existing = WorkOrder.objects.filter(
                organisation=organisation, source=source, source_ref=source_ref
            ).first()
            if existing is not None:
                return existing
        if location is not None and location.pk is None:
            location.save()
        order = WorkOrder(
            organisation=organisation,
            number=_take_number(sequence),
            source=source,
            source_ref=source_ref,
            contact=contact,
            unit=unit,
            type=type,
            location=location,
            title=title[:200],
            description=(description or "").strip(),
            window_start=window_start,
            window_end=window_end,
            currency=organisation.currency,
            created_by=_user(actor),
        )
        order.save(force_insert=True)
        if lines:
            _add_lines(order, _clean_lines(order, lines), state=LineState.AGREED, actor=actor)
            _retotal(order)
        order.duplicate_of = _possible_duplicate(order)
        order.save(
            update_fields=["net_total", "tax_total", "total", "proposed_total", "duplicate_of"]
        )
        WorkOrderEvent.objects.create(
            order=order,
            kind=Event.CREATED,
            to_status=order.status,
            at=now,
            actor=_user(actor),
            data={"source": source},
        )
        timeline_add(
            contact=contact,
            kind="workorder.created",
            summary=_("Order #%(number)s received: %(title)s")
            % {"number": order.number, "title": order.title},
            data={"work_order": str(order.public_id), "source": source},
            actor=actor,
            occurred_at=now,
        )
    return order


def _add_lines(
    order: WorkOrder, cleaned: list[dict], *, state: str, actor=None, request=None, on_site=False
):
    start = (order.lines.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    WorkOrderLine.objects.bulk_create(
        [
            WorkOrderLine(
                order=order,
                position=start + i,
                state=state,
                on_site=on_site,
                request=request,
                added_by=_user(actor),
                **values,
            )
            for i, values in enumerate(cleaned)
        ]
    )


PREPARE_FIELDS = (
    "title",
    "description",
    "type",
    "location",
    "window_start",
    "window_end",
    "manager_comment",
)


def work_order_update(*, order: WorkOrder, actor=None, **fields) -> WorkOrder:
    """The manager prepares the order (S2.2): work, address, visit window, description and the
    comment for the technician. Only before the work starts."""
    unknown = set(fields) - set(PREPARE_FIELDS)
    if unknown:
        raise ValidationError({name: _("This field can't be changed here.") for name in unknown})
    with transaction.atomic():
        current = _lock(order)
        if current.status not in EDITABLE_STATUSES:
            raise ValidationError(
                {"status": _("The work has started: the order can no longer be changed.")}
            )
        if "title" in fields and not (fields["title"] or "").strip():
            raise ValidationError({"title": _("Describe the work in a few words.")})
        if "type" in fields:
            _check_type(current.organisation_id, fields["type"])
        location = fields.get("location")
        if location is not None and location.organisation_id != current.organisation_id:
            raise ValidationError({"location": _("The address belongs to another organisation.")})
        _check_window(
            fields.get("window_start", current.window_start),
            fields.get("window_end", current.window_end),
        )
        if location is not None and location.pk is None:
            location.save()
        for name, value in fields.items():
            setattr(current, name, value.strip() if isinstance(value, str) else value)
        _record(
            current,
            kind=Event.UPDATED,
            from_status=current.status,
            actor=actor,
            now=timezone.now(),
            fields=list(fields),
        )
    return current


def work_order_set_lines(*, order: WorkOrder, lines: Sequence[LineInput], actor=None) -> WorkOrder:
    """Replace the agreed lines — labour, extra services and goods, travel charge — and with them
    the agreed total (S2.2). Only before the work starts; on site, extras go through approval."""
    with transaction.atomic():
        current = _lock(order)
        if current.status not in EDITABLE_STATUSES:
            raise ValidationError(
                {"status": _("The work has started: extras now need the manager's approval.")}
            )
        cleaned = _clean_lines(current, lines)
        current.lines.all().delete()
        _add_lines(current, cleaned, state=LineState.AGREED, actor=actor)
        _retotal(current)
        _record(
            current,
            kind=Event.UPDATED,
            from_status=current.status,
            actor=actor,
            now=timezone.now(),
            data={"total": str(current.total)},
            fields=["net_total", "tax_total", "total", "proposed_total"],
        )
    return current


# -- dispatch -----------------------------------------------------------------------------------


def _check_technician(order: WorkOrder, technician) -> None:
    if technician is None or technician.organisation_id != order.organisation_id:
        raise ValidationError({"technician": _("Choose a technician of the organisation.")})
    if not technician.has_role(*AGENDA_ROLES):
        raise ValidationError({"technician": _("This staff member does not do visits.")})
    today = timezone.localdate()
    if not technician.is_active_on(today):
        raise ValidationError({"technician": _("This staff member is no longer active.")})


def work_order_assign(
    *,
    order: WorkOrder,
    technician,
    start: datetime.datetime,
    actor=None,
    enforce_availability: bool = True,
    now: datetime.datetime | None = None,
) -> WorkOrder:
    """Assign (or reassign) the order to `technician` for a visit starting at `start` (S2.3): the
    visit is booked on their agenda with the booking engine's checks, the order moves to
    *Assigned* and the technician is notified. Raises ValidationError for bad input or an
    unavailable time, Conflict when the time was taken meanwhile."""
    now = now or timezone.now()
    if not isinstance(start, datetime.datetime) or timezone.is_naive(start):
        raise ValidationError({"start": _("Enter a valid date and time.")})
    with transaction.atomic():
        current = _lock(order)
        transitions.check(current.status, "assign")
        _check_technician(current, technician)
        if current.type is None:
            raise ValidationError(
                {"type": _("Choose the work first: it sets the visit's length and skills.")}
            )
        if current.type.needs_travel and current.location is None:
            raise ValidationError({"location": _("Enter the address of the visit.")})
        previous = current.technician
        booking = current.booking
        if booking is not None and booking.status in BOOKING_ACTIVE:
            booking = booking_services.booking_reschedule(
                booking=booking,
                start=start,
                staff=technician,
                actor=actor,
                enforce_availability=enforce_availability,
                enforce_window=False,
                now=now,
            )
        else:
            booking = booking_services.booking_create(
                type=current.type,
                staff=technician,
                contact=current.contact,
                start=start,
                location=current.location,
                source=BookingSource.STAFF,
                notes=current.title,
                actor=actor,
                enforce_availability=enforce_availability,
                now=now,
            )
        from_status = current.status
        current.technician = technician
        current.booking = booking
        current.scheduled_start = booking.start
        current.scheduled_end = booking.end
        current.unit_id = technician.unit_id
        current.status = Status.ASSIGNED
        current.accepted_at = None
        data = {"technician": technician.pk, "start": booking.start.isoformat()}
        if previous is not None and previous.pk != technician.pk:
            data["previous_technician"] = previous.pk
        _record(
            current,
            kind=Event.ASSIGNED,
            from_status=from_status,
            actor=actor,
            now=now,
            data=data,
            fields=[
                "technician",
                "booking",
                "scheduled_start",
                "scheduled_end",
                "unit",
                "accepted_at",
            ],
        )
        notifications.technician_assigned(order=current)
        if previous is not None and previous.pk != technician.pk:
            notifications.technician_unassigned(order=current, technician=previous)
    return current


def _release_booking(order: WorkOrder, *, actor, reason: str, notify_customer: bool) -> None:
    """Cancel the order's visit. A decline doesn't tell the customer their visit is cancelled
    (the office assigns someone else and the new booking's message tells them); a cancelled
    order does."""
    if order.booking is not None and order.booking.status in BOOKING_ACTIVE:
        booking_services.booking_cancel(
            booking=order.booking,
            actor=actor,
            reason=reason,
            enforce_window=False,
            notify=notify_customer,
        )


# -- the technician's actions -------------------------------------------------------------------

SIMPLE_ACTIONS = {
    "accept": Event.ACCEPTED,
    "decline": Event.DECLINED,
    "start": Event.STARTED,
    "pause": Event.PAUSED,
    "resume": Event.RESUMED,
    "cancel": Event.CANCELLED,
}


def work_order_act(
    *,
    order: WorkOrder,
    action: str,
    actor=None,
    reason: str = "",
    client_at: datetime.datetime | None = None,
    expected_version: int | None = None,
    now: datetime.datetime | None = None,
) -> WorkOrder:
    """accept, decline (reason required), start ("Get started"), pause, resume, cancel (manager).
    `client_at` is when the phone says it happened (offline queue); `expected_version` the
    version it acted on — a different one raises Conflict and the server's state stands."""
    if action not in SIMPLE_ACTIONS:
        raise ValidationError({"action": _("Unknown action.")})
    now = now or timezone.now()
    reason = (reason or "").strip()
    with transaction.atomic():
        current = _lock(order)
        _check_version(current, expected_version)
        transitions.check(current.status, action)
        if action in ("decline", "cancel") and not reason:
            raise ValidationError({"reason": _("Say why.")})
        from_status = current.status
        fields: list[str] = []
        data: dict = {"reason": reason} if reason else {}
        if action == "accept":
            current.status = Status.ACCEPTED
            current.accepted_at = now
            fields = ["accepted_at"]
        elif action == "start":
            current.status = Status.IN_PROGRESS
            if current.accepted_at is None:
                current.accepted_at = now
            current.started_at = current.started_at or now
            fields = ["accepted_at", "started_at"]
        elif action == "pause":
            current.status = Status.PAUSED
        elif action == "resume":
            current.status = Status.IN_PROGRESS
        elif action == "decline":
            technician = current.technician
            _release_booking(current, actor=actor, reason=reason, notify_customer=False)
            data["technician"] = technician.pk
            current.status = Status.DRAFT
            current.technician = None
            current.booking = None
            current.scheduled_start = current.scheduled_end = None
            current.accepted_at = None
            fields = ["technician", "booking", "scheduled_start", "scheduled_end", "accepted_at"]
        elif action == "cancel":
            _release_booking(current, actor=actor, reason=reason, notify_customer=True)
            current.status = Status.CANCELLED
        _record(
            current,
            kind=SIMPLE_ACTIONS[action],
            from_status=from_status,
            actor=actor,
            now=now,
            client_at=client_at,
            data=data,
            fields=fields,
        )
        if action == "decline":
            notifications.managers_order_declined(order=current, reason=reason)
        elif action == "cancel" and from_status != Status.DRAFT:
            notifications.technician_unassigned(order=current, technician=current.technician)
    return current


# -- extras and their approval (S2.7) -----------------------------------------------------------


def extras_submit(
    *,
    order: WorkOrder,
    lines: Sequence[LineInput],
    note: str = "",
    actor=None,
    expected_version: int | None = None,
    now: datetime.datetime | None = None,
) -> WorkOrder:
    """The technician adds services and goods on site. If the total changes, the order goes to
    *Needs confirmation* with an `ExtrasRequest` until a manager decides; extras that don't change
    the total (free goods) are agreed at once."""
    now = now or timezone.now()
    if not lines:
        raise ValidationError({"lines": _("Add at least one service or good.")})
    with transaction.atomic():
        current = _lock(order)
        _check_version(current, expected_version)
        transitions.check(current.status, "submit_extras")
        cleaned = _clean_lines(current, lines)
        for values in cleaned:
            if values["kind"] == LineKind.LABOUR and values.get("item") is None:
                values["kind"] = LineKind.SERVICE
        extra = money.totals(
            [
                money.LineValue(v["quantity"], v["unit_price"], v["tax_rate"], v["kind"])
                for v in cleaned
            ],
            current.currency,
        )
        from_status = current.status
        if extra.total.amount == 0:
            _add_lines(current, cleaned, state=LineState.AGREED, actor=actor, on_site=True)
            _retotal(current)
            _record(
                current,
                kind=Event.UPDATED,
                from_status=from_status,
                actor=actor,
                now=now,
                data={"total": str(current.total)},
                fields=["net_total", "tax_total", "total", "proposed_total"],
            )
            return current
        request = ExtrasRequest.objects.create(
            order=current,
            previous_total=current.total,
            proposed_total=current.total + extra.total.amount,
            note=(note or "").strip(),
            requested_by=_user(actor),
        )
        _add_lines(
            current, cleaned, state=LineState.PENDING, actor=actor, request=request, on_site=True
        )
        _retotal(current)
        current.resume_status = current.status
        current.status = Status.NEEDS_CONFIRMATION
        _record(
            current,
            kind=Event.EXTRAS_SUBMITTED,
            from_status=from_status,
            actor=actor,
            now=now,
            data={
                "previous_total": str(request.previous_total),
                "proposed_total": str(request.proposed_total),
            },
            fields=["net_total", "tax_total", "total", "proposed_total", "resume_status"],
        )
        notifications.managers_extras_submitted(order=current, request=request)
    return current


def extras_decide(
    *,
    order: WorkOrder,
    approve: bool,
    note: str = "",
    actor=None,
    now: datetime.datetime | None = None,
) -> WorkOrder:
    """A manager approves or rejects the new total; the order returns to where the technician
    left it (in progress or paused) and the technician is notified."""
    now = now or timezone.now()
    note = (note or "").strip()
    with transaction.atomic():
        current = _lock(order)
        transitions.check(current.status, "approve_extras" if approve else "reject_extras")
        if not approve and not note:
            raise ValidationError({"note": _("Say why the new amount is rejected.")})
        request = ExtrasRequest.objects.select_for_update().get(
            order=current, state=ExtrasRequest.State.PENDING
        )
        request.state = ExtrasRequest.State.APPROVED if approve else ExtrasRequest.State.REJECTED
        request.decided_by = _user(actor)
        request.decided_at = now
        request.decision_note = note
        request.save()
        request.lines.update(state=LineState.AGREED if approve else LineState.REJECTED)
        _retotal(current)
        from_status = current.status
        current.status = current.resume_status or Status.IN_PROGRESS
        current.resume_status = ""
        _record(
            current,
            kind=Event.EXTRAS_APPROVED if approve else Event.EXTRAS_REJECTED,
            from_status=from_status,
            actor=actor,
            now=now,
            data={"total": str(current.total), **({"note": note} if note else {})},
            fields=["net_total", "tax_total", "total", "proposed_total", "resume_status"],
        )
        notifications.technician_extras_decided(order=current, request=request)
    return current


# -- completion (S2.8) and confirmation (S2.9) --------------------------------------------------


@dataclass
class CompletionInput:
    """What the completion form asks. Every money field must be given — zero is an answer,
    empty (None or "") is not."""

    work_cost: object = None
    extras_cost: object = None
    travel_cost: object = None
    toll_miles: object = None
    tips: object = None
    payment_method: str = ""
    payment_amount: object = None
    answers: dict = field(default_factory=dict)
    #: for payment_method "link": where to send the link (optional)
    link_sms_to: str = ""
    link_email_to: str = ""


def _decimal(raw, *, field_name: str, errors: dict, places: int = 2) -> Decimal | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        errors[field_name] = _("This is required: enter 0 if there is none.")
        return None
    try:
        value = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip().replace(",", "."))
        if not value.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError, TypeError):
        errors[field_name] = _("Enter a number.")
        return None
    if value < 0:
        errors[field_name] = _("Enter zero or more.")
        return None
    if value >= Decimal("1e9"):
        errors[field_name] = _("This number is too large.")
        return None
    quantum = Decimal(1).scaleb(-places)
    if value != value.quantize(quantum):
        errors[field_name] = _("Use at most %(places)s decimals.") % {"places": places}
        return None
    return value


LINK_METHOD = "link"
#: payments' field names for a payment link → the completion form's
LINK_ERROR_FIELDS = {
    "sms_to": "link_sms_to",
    "email_to": "link_email_to",
    "amount": "payment_amount",
}


def completion_methods() -> list[tuple[str, str]]:
    from slotwise.payments.onsite import method_choices

    return [*method_choices(), (LINK_METHOD, _("Payment link (the client pays online)"))]


def work_order_complete(
    *,
    order: WorkOrder,
    data: CompletionInput,
    actor=None,
    received_by=None,
    client_at: datetime.datetime | None = None,
    expected_version: int | None = None,
    now: datetime.datetime | None = None,
) -> WorkOrder:
    """The technician completes the order (S2.8): every field of the form, at least one photo,
    the questionnaire and the payment — recorded through the payments app's manual methods
    (cash and checks stay with `received_by`, the technician), or a payment link the client pays
    online. The order then waits for the manager's confirmation."""
    from slotwise.payments import onsite
    from slotwise.payments.models import PaymentStatus

    from .questionnaire import clean_answers

    now = now or timezone.now()
    with transaction.atomic():
        current = _lock(order)
        _check_version(current, expected_version)
        transitions.check(current.status, "complete")
        errors: dict[str, str] = {}
        values = {
            name: _decimal(
                getattr(data, name),
                field_name=name,
                errors=errors,
                places=1 if name == "toll_miles" else 2,
            )
            for name in (
                "work_cost",
                "extras_cost",
                "travel_cost",
                "toll_miles",
                "tips",
                "payment_amount",
            )
        }
        methods = dict(completion_methods())
        if data.payment_method not in methods:
            errors["payment_method"] = _("Choose how the client paid.")
        answers = clean_answers(current.organisation, data.answers or {}, errors)
        if not current.photos.exists():
            errors["photos"] = _("Add at least one photo of the work.")
        if errors:
            raise ValidationError(errors)
        if values["payment_amount"] == 0 and values["tips"] == 0 and current.total > 0:
            raise ValidationError({"payment_amount": _("Enter the amount the client paid.")})
        technician = received_by or current.technician
        payment = None
        amount = Money(values["payment_amount"], current.currency)
        tip = Money(values["tips"], current.currency)
        previous = Completion.objects.filter(order=current).select_related("payment").first()
        if (
            previous is not None
            and previous.payment is not None
            and previous.payment.status not in (PaymentStatus.FAILED, PaymentStatus.CANCELLED)
            and previous.payment_method == data.payment_method
            and previous.payment_amount == values["payment_amount"]
            and previous.tips == values["tips"]
        ):
            # Sent back and completed again with the same payment: it was recorded (or its
            # link sent) the first time, so it is not recorded twice.
            payment = previous.payment
        elif data.payment_method == LINK_METHOD:
            if amount.amount <= 0:
                raise ValidationError(
                    {"payment_amount": _("A payment link needs an amount above zero.")}
                )
            try:
                link = onsite.payment_link_create(
                    organisation=current.organisation,
                    amount=amount + tip,
                    booking=current.booking,
                    contact=current.contact,
                    sms_to=data.link_sms_to,
                    email_to=data.link_email_to,
                    work_order=current,
                    actor=actor,
                )
            except ValidationError as err:  # named after the completion form's fields
                raise ValidationError(
                    {
                        LINK_ERROR_FIELDS.get(key, "payment_method"): messages
                        for key, messages in err.message_dict.items()
                    }
                ) from None
            payment = link.payment
        elif amount.amount > 0 or tip.amount > 0:
            payment = onsite.onsite_payment_record(
                organisation=current.organisation,
                method=data.payment_method,
                amount=amount if amount.amount > 0 else tip,
                tip=tip if amount.amount > 0 else None,
                received_by=technician,
                booking=current.booking,
                contact=current.contact,
                work_order=current,
                actor=actor,
            )
        Completion.objects.update_or_create(
            order=current,
            defaults={
                **{k: v for k, v in values.items()},
                "answers": answers,
                "payment_method": data.payment_method,
                "payment": payment,
                "submitted_by": _user(actor),
                "submitted_at": now,
                "confirmed_by": None,
                "confirmed_at": None,
            },
        )
        from_status = current.status
        current.status = Status.COMPLETED
        current.completed_at = now
        _record(
            current,
            kind=Event.COMPLETED,
            from_status=from_status,
            actor=actor,
            now=now,
            client_at=client_at,
            data={
                "payment_method": data.payment_method,
                "amount": str(values["payment_amount"]),
                "tips": str(values["tips"]),
            },
            fields=["completed_at"],
        )
        notifications.managers_order_completed(order=current)
    return current


def work_order_return(*, order: WorkOrder, reason: str, actor=None, now=None) -> WorkOrder:
    """The manager sends the completion back to the technician (something missing or wrong)."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    with transaction.atomic():
        current = _lock(order)
        transitions.check(current.status, "return")
        if not reason:
            raise ValidationError({"reason": _("Say what the technician should fix.")})
        from_status = current.status
        current.status = Status.PAUSED
        current.completed_at = None
        _record(
            current,
            kind=Event.RETURNED,
            from_status=from_status,
            actor=actor,
            now=now,
            data={"reason": reason},
            fields=["completed_at"],
        )
        WorkOrderComment.objects.create(
            order=current, author=_user(actor), side=WorkOrderComment.Side.MANAGER, body=reason
        )
        notifications.technician_order_returned(order=current, reason=reason)
    return current


def _pay_rule_value(technician) -> money.PayRuleValue:
    rule = PayRule.objects.filter(technician=technician).first()
    if rule is None:
        return money.PayRuleValue()
    return money.PayRuleValue(
        labour_share_percent=rule.labour_share_percent,
        fixed_per_job=rule.fixed_per_job,
        mileage_rate=rule.mileage_rate,
    )


def work_order_confirm(*, order: WorkOrder, actor=None, now=None) -> WorkOrder:
    """The manager confirms the completion (S2.9): only now is the order closed, the visit marked
    done and the technician's pay for it computed."""
    now = now or timezone.now()
    with transaction.atomic():
        current = _lock(order)
        transitions.check(current.status, "confirm")
        completion = Completion.objects.select_for_update().get(order=current)
        completion.confirmed_by = _user(actor)
        completion.confirmed_at = now
        completion.save(update_fields=["confirmed_by", "confirmed_at"])
        from_status = current.status
        current.status = Status.CLOSED
        current.closed_at = now
        _record(
            current,
            kind=Event.CONFIRMED,
            from_status=from_status,
            actor=actor,
            now=now,
            fields=["closed_at"],
        )
        if current.booking is not None and current.booking.status == BookingStatus.CONFIRMED:
            booking_services.booking_mark(
                booking=current.booking, status=BookingStatus.DONE, actor=actor
            )
        if current.technician is not None:
            currency = current.currency
            pay = money.pay_for(
                rule=_pay_rule_value(current.technician),
                labour=Money(completion.work_cost, currency),
                miles=completion.toll_miles,
                tips=Money(completion.tips, currency),
            )
            zone = ZoneInfo(current.organisation.time_zone)
            Earning.objects.update_or_create(
                order=current,
                defaults={
                    "organisation_id": current.organisation_id,
                    "technician": current.technician,
                    "earned_on": timezone.localtime(now, zone).date(),
                    "currency": currency,
                    "labour": pay.labour.amount,
                    "fixed": pay.fixed.amount,
                    "mileage": pay.mileage.amount,
                    "tips": pay.tips.amount,
                    "total": pay.total.amount,
                },
            )
            notifications.technician_order_confirmed(order=current)
    return current


# -- comments -----------------------------------------------------------------------------------


def comment_add(*, order: WorkOrder, author, side: str, body: str) -> WorkOrderComment:
    """A comment in the order's manager–technician thread; the other side is notified."""
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": _("Write a comment.")})
    if side not in WorkOrderComment.Side.values:
        raise ValidationError({"side": _("Unknown side.")})
    with transaction.atomic():
        comment = WorkOrderComment.objects.create(
            order=order, author=_user(author), side=side, body=body[:4000]
        )
        notifications.comment_added(order=order, comment=comment)
    return comment
