"""Reconciliation (issue 4, item 6): reads only, for managers of one organisation.

`day_rows` — one row per day, provider (and manual method) and currency, for the payments
*created* that day (the organisation's time zone):

- expected: how many payments were asked for and their amounts (amount + tip);
- received: captured money (`paid_amount`, tips included) and how many payments captured any;
- refunded: money refunded of those payments; fees: what providers reported as their fee
  (`fee_amount`, only where a provider reports it — how many did is counted beside it);
- open (created/pending), failed and cancelled counts: what explains expected ≠ received.

`held_rows` — cash and checks taken by each staff member and not yet handed over to the company
(manual payments with holder = staff and no `handed_over_at`): count, amount (captured less
refunded), the oldest. `held_payments` lists them for the "mark handed over" action.

Amounts are Decimal and never summed across currencies.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, F, Min, Q, Sum
from django.db.models.functions import Coalesce, TruncDate

from .models import AMOUNT, Holder, Payment, PaymentStatus

ZERO = Decimal("0")
MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class DayRow:
    day: datetime.date
    provider: str
    method: str
    currency: str
    expected_count: int
    expected: Decimal
    received_count: int
    received: Decimal
    refunded: Decimal
    fees: Decimal
    fees_reported: int
    open_count: int
    failed_count: int
    cancelled_count: int

    @property
    def difference(self) -> Decimal:
        """Expected less received (positive: money still missing)."""
        return self.expected - self.received

    @property
    def net(self) -> Decimal:
        """What reaches the company: received less refunds and fees."""
        return self.received - self.refunded - self.fees


@dataclass(frozen=True, slots=True)
class HeldRow:
    staff_id: int
    staff_name: str
    currency: str
    count: int
    amount: Decimal
    oldest: datetime.datetime


def _window(organisation, date_from: datetime.date, date_to: datetime.date):
    zone = ZoneInfo(organisation.time_zone)
    start = datetime.datetime.combine(date_from, datetime.time.min, tzinfo=zone)
    end = datetime.datetime.combine(
        date_to + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone
    )
    return zone, start, end


def day_rows(*, organisation, date_from: datetime.date, date_to: datetime.date) -> list[DayRow]:
    """The report rows, by day then provider, method and currency (one aggregate query)."""
    if date_to < date_from:
        date_from, date_to = date_to, date_from
    zone, start, end = _window(organisation, date_from, date_to)
    zero = Decimal("0.00")
    money = {"output_field": Payment._meta.get_field("amount")}
    rows = (
        Payment.objects.filter(organisation=organisation, created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values("day", "provider", "method", "currency")
        .annotate(
            expected_count=Count("pk"),
            expected=Coalesce(Sum(F("amount") + F("tip_amount"), **money), zero, **money),
            received_count=Count("pk", filter=Q(paid_amount__gt=0)),
            received=Coalesce(Sum("paid_amount"), zero, **money),
            refunded=Coalesce(Sum("refunded_amount"), zero, **money),
            fees=Coalesce(Sum("fee_amount"), zero, **money),
            fees_reported=Count("pk", filter=Q(fee_amount__isnull=False)),
            open_count=Count(
                "pk", filter=Q(status__in=[PaymentStatus.CREATED, PaymentStatus.PENDING])
            ),
            failed_count=Count("pk", filter=Q(status=PaymentStatus.FAILED)),
            cancelled_count=Count("pk", filter=Q(status=PaymentStatus.CANCELLED)),
        )
        .order_by("day", "provider", "method", "currency")
    )
    return [
        DayRow(
            day=r["day"],
            provider=r["provider"],
            method=r["method"] if r["provider"] == "manual" else "",
            currency=r["currency"],
            expected_count=r["expected_count"],
            expected=_q(r["expected"]),
            received_count=r["received_count"],
            received=_q(r["received"]),
            refunded=_q(r["refunded"]),
            fees=_q(r["fees"]),
            fees_reported=r["fees_reported"],
            open_count=r["open_count"],
            failed_count=r["failed_count"],
            cancelled_count=r["cancelled_count"],
        )
        for r in rows
    ]


def _q(value) -> Decimal:
    """A sum as a Decimal with the amount fields' two places (SQLite may hand back floats)."""
    places = Decimal(1).scaleb(-AMOUNT["decimal_places"])
    return Decimal(str(value if value is not None else 0)).quantize(places)


def totals(rows: list[DayRow]) -> list[dict]:
    """Per currency: the sums of the rows (for the report's footer)."""
    out: dict[str, dict] = {}
    for r in rows:
        t = out.setdefault(
            r.currency,
            {
                "currency": r.currency,
                "expected_count": 0,
                "expected": ZERO,
                "received_count": 0,
                "received": ZERO,
                "refunded": ZERO,
                "fees": ZERO,
                "open_count": 0,
                "failed_count": 0,
                "cancelled_count": 0,
            },
        )
        for key in (
            "expected_count",
            "expected",
            "received_count",
            "received",
            "refunded",
            "fees",
            "open_count",
            "failed_count",
            "cancelled_count",
        ):
            t[key] += getattr(r, key)
    for t in out.values():
        t["net"] = t["received"] - t["refunded"] - t["fees"]
    return [out[c] for c in sorted(out)]


def held_payments(*, organisation, staff_id: int | None = None):
    """Cash and checks still held by staff (captured, not handed over), oldest first."""
    qs = Payment.objects.filter(
        organisation=organisation,
        provider="manual",
        holder=Holder.STAFF,
        handed_over_at__isnull=True,
        paid_amount__gt=0,
    ).select_related("received_by__user", "contact", "booking")
    if staff_id is not None:
        qs = qs.filter(received_by_id=staff_id)
    return qs.order_by("created_at", "pk")


def held_rows(*, organisation) -> list[HeldRow]:
    """Per staff member and currency: what they hold and owe the company."""
    rows = (
        held_payments(organisation=organisation)
        .order_by()
        .values("received_by", "currency")
        .annotate(
            count=Count("pk"),
            amount=Sum(F("paid_amount") - F("refunded_amount")),
            oldest=Min("created_at"),
        )
    )
    from slotwise.org.models import Staff

    names = {
        s.pk: str(s)
        for s in Staff.objects.filter(pk__in={r["received_by"] for r in rows}).select_related(
            "user"
        )
    }
    result = [
        HeldRow(
            staff_id=r["received_by"],
            staff_name=names.get(r["received_by"], "—"),
            currency=r["currency"],
            count=r["count"],
            amount=_q(r["amount"]),
            oldest=r["oldest"],
        )
        for r in rows
        if r["received_by"] is not None
    ]
    return sorted(result, key=lambda r: (r.staff_name.lower(), r.currency))
