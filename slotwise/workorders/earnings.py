"""Technicians' pay (S2.10): pay rules, earnings per order / week / month, payouts, the cash and
checks a technician holds for the company — and the settings of the completion questionnaire.

Reads (`earnings_summary`, `earnings_history`, `payouts_of`, `pay_overview`) and writes
(`pay_rule_save`, `payout_record`, `question_*`) live here; the pages in `earnings_views.py`
are thin. Access is checked by the callers with the `rules` permissions
(`workorders.view_earnings_of`, `workorders.manage_pay_of`, `workorders.manage_catalogue`).

Money:
- An `Earning` is written when a manager confirms an order (`services.work_order_confirm`, with
  `money.pay_for`), dated in the organisation's time zone (`earned_on`). A pay rule applies to
  the orders confirmed after it is saved; earnings already written don't change.
- Sums are made in Python over `Decimal` values (exact on PostgreSQL and SQLite alike), in the
  organisation's currency; amounts of different currencies are never added.
- Weeks start on Monday (ISO weeks).
- `payout_record` pays every unpaid earning up to a date: the payout's amount is exactly their
  sum, and the earnings are marked paid in the same transaction under their row locks, so the
  same earning can never be paid twice (a second payout for the same period finds nothing).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from slotwise.core.errors import Conflict, ValidationError
from slotwise.core.money import Money
from slotwise.org.models import Organisation, Staff, StaffRole
from slotwise.org.roles import AGENDA_ROLES
from slotwise.org.selectors import staff_for

from .models import Earning, Payout, PayRule, Question

ZERO = Decimal("0.00")
TWO_PLACES = Decimal("0.01")
#: the periods the summaries show
WEEKS = 8
MONTHS = 12


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _today(organisation) -> datetime.date:
    return timezone.now().astimezone(ZoneInfo(organisation.time_zone)).date()


def _dec(value) -> Decimal:
    """A database sum as a Decimal with two places (SQLite may hand back floats)."""
    return Decimal(str(value if value is not None else 0)).quantize(TWO_PLACES)


# -- pay rules ----------------------------------------------------------------------------------


def _number(
    raw, *, key: str, errors: dict, places: int, maximum: Decimal, too_large: str
) -> Decimal | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        errors[key] = _("This is required: enter 0 if there is none.")
        return None
    try:
        value = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip().replace(",", "."))
        if not value.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError, TypeError):
        errors[key] = _("Enter a number.")
        return None
    if value < 0:
        errors[key] = _("Enter zero or more.")
        return None
    if value > maximum:
        errors[key] = too_large
        return None
    if value != value.quantize(Decimal(1).scaleb(-places)):
        errors[key] = _("Use at most %(places)s decimals.") % {"places": places}
        return None
    return value


def is_technician(staff: Staff) -> bool:
    return staff.has_role(*AGENDA_ROLES)


def pay_rule_of(technician: Staff) -> PayRule | None:
    return PayRule.objects.filter(technician=technician).first()


def pay_rule_save(
    *,
    technician: Staff,
    labour_share_percent,
    fixed_per_job,
    mileage_rate,
    actor=None,
) -> PayRule:
    """Set how `technician` is paid: a share of the labour (0–100 %), a fixed amount per job and
    a rate per toll-road mile (tips always go to the technician). Applies to the orders
    confirmed from now on. Values may be Decimals or text ("12,5" is read as 12.5)."""
    errors: dict[str, str] = {}
    if technician is None or not is_technician(technician):
        errors["technician"] = _("Choose a technician.")
    share = _number(
        labour_share_percent,
        key="labour_share_percent",
        errors=errors,
        places=2,
        maximum=Decimal("100"),
        too_large=_("Enter a share between 0 and 100 %."),
    )
    fixed = _number(
        fixed_per_job,
        key="fixed_per_job",
        errors=errors,
        places=2,
        maximum=Decimal("999999999.99"),
        too_large=_("This number is too large."),
    )
    rate = _number(
        mileage_rate,
        key="mileage_rate",
        errors=errors,
        places=3,
        maximum=Decimal("99999.999"),
        too_large=_("This number is too large."),
    )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        rule, _created = PayRule.objects.select_for_update().update_or_create(
            technician=technician,
            defaults={
                "organisation_id": technician.organisation_id,
                "labour_share_percent": share,
                "fixed_per_job": fixed,
                "mileage_rate": rate,
            },
        )
    return rule


# -- earnings: reads ----------------------------------------------------------------------------


@dataclass
class PeriodRow:
    """The earnings of one week or month."""

    start: datetime.date
    end: datetime.date  # inclusive
    orders: int = 0
    total: Decimal = ZERO
    tips: Decimal = ZERO
    unpaid: Decimal = ZERO

    @property
    def paid(self) -> Decimal:
        return self.total - self.unpaid


@dataclass
class HeldCash:
    currency: str
    amount: Decimal
    count: int


@dataclass
class Summary:
    technician: Staff
    currency: str
    today: datetime.date
    unpaid: Decimal = ZERO
    unpaid_count: int = 0
    oldest_unpaid: datetime.date | None = None
    paid: Decimal = ZERO  # all time, paid out
    weeks: list[PeriodRow] = field(default_factory=list)  # newest first
    months: list[PeriodRow] = field(default_factory=list)  # newest first
    held: list = field(default_factory=list)  # the Payment rows, oldest first
    held_totals: list[HeldCash] = field(default_factory=list)

    @property
    def this_week(self) -> PeriodRow:
        return self.weeks[0]

    @property
    def this_month(self) -> PeriodRow:
        return self.months[0]


def week_start(day: datetime.date) -> datetime.date:
    return day - datetime.timedelta(days=day.weekday())


def _month_start(day: datetime.date, back: int = 0) -> datetime.date:
    index = day.year * 12 + day.month - 1 - back
    return datetime.date(index // 12, index % 12 + 1, 1)


def _month_end(start: datetime.date) -> datetime.date:
    return _month_start(start, -1) - datetime.timedelta(days=1)


def held_by(technician: Staff):
    """Cash and checks `technician` took and has not handed over to the company yet (the
    payments app's query), oldest first, with their work order."""
    from slotwise.payments.reconciliation import held_payments

    return held_payments(
        organisation=technician.organisation, staff_id=technician.pk
    ).select_related("work_order")


def _held_totals(payments: Iterable) -> list[HeldCash]:
    out: dict[str, HeldCash] = {}
    for p in payments:
        row = out.setdefault(p.currency, HeldCash(p.currency, Money.of(0, p.currency).amount, 0))
        row.amount = (
            Money(row.amount, p.currency) + Money(p.paid_amount - p.refunded_amount, p.currency)
        ).amount
        row.count += 1
    return [out[c] for c in sorted(out)]


def earnings_summary(
    technician: Staff,
    *,
    today: datetime.date | None = None,
    weeks: int = WEEKS,
    months: int = MONTHS,
) -> Summary:
    """The technician's pay per week (the last `weeks`, this one first) and per month (the last
    `months`), unpaid against paid out, and the cash and checks they hold for the company — in
    the organisation's time zone and currency. Four queries."""
    organisation = technician.organisation
    currency = organisation.currency
    today = today or _today(organisation)
    summary = Summary(technician=technician, currency=currency, today=today)
    first_week = week_start(today) - datetime.timedelta(weeks=weeks - 1)
    summary.weeks = [
        PeriodRow(start=s, end=s + datetime.timedelta(days=6))
        for s in (week_start(today) - datetime.timedelta(weeks=i) for i in range(weeks))
    ]
    summary.months = [
        PeriodRow(start=s, end=_month_end(s))
        for s in (_month_start(today, i) for i in range(months))
    ]
    since = min(first_week, summary.months[-1].start)
    rows = Earning.objects.filter(
        technician=technician, currency=currency, earned_on__gte=since, earned_on__lte=today
    ).values_list("earned_on", "total", "tips", "payout_id")
    weeks_by_start = {w.start: w for w in summary.weeks}
    months_by_start = {m.start: m for m in summary.months}
    for earned_on, total, tips, payout_id in rows:
        for row in (
            weeks_by_start.get(week_start(earned_on)),
            months_by_start.get(_month_start(earned_on)),
        ):
            if row is None:
                continue
            row.orders += 1
            row.total += total
            row.tips += tips
            if payout_id is None:
                row.unpaid += total
    totals = Earning.objects.filter(technician=technician, currency=currency).aggregate(
        unpaid=Sum("total", filter=Q(payout__isnull=True)),
        unpaid_count=Count("pk", filter=Q(payout__isnull=True)),
        paid=Sum("total", filter=Q(payout__isnull=False)),
    )
    summary.unpaid = _dec(totals["unpaid"])
    summary.unpaid_count = totals["unpaid_count"]
    summary.paid = _dec(totals["paid"])
    if summary.unpaid_count:
        summary.oldest_unpaid = (
            Earning.objects.filter(technician=technician, currency=currency, payout__isnull=True)
            .order_by("earned_on")
            .values_list("earned_on", flat=True)
            .first()
        )
    summary.held = list(held_by(technician))
    summary.held_totals = _held_totals(summary.held)
    return summary


def earnings_history(technician: Staff) -> QuerySet[Earning]:
    """Done work with the pay for each order, newest first."""
    return Earning.objects.filter(technician=technician).select_related("order", "payout")


def payouts_of(technician: Staff) -> QuerySet[Payout]:
    return Payout.objects.filter(technician=technician).select_related("created_by")


def unpaid_earnings(
    technician: Staff, *, up_to: datetime.date | None = None, currency: str | None = None
) -> QuerySet[Earning]:
    qs = Earning.objects.filter(
        technician=technician,
        payout__isnull=True,
        currency=currency or technician.organisation.currency,
    )
    if up_to is not None:
        qs = qs.filter(earned_on__lte=up_to)
    return qs


def unpaid_total(technician: Staff, *, up_to: datetime.date | None = None) -> Decimal:
    """What a payout up to `up_to` would pay (exact: added in Python)."""
    amounts = unpaid_earnings(technician, up_to=up_to).values_list("total", flat=True)
    return sum(amounts, ZERO).quantize(TWO_PLACES)


@dataclass
class TechnicianPay:
    staff: Staff
    rule: PayRule | None
    unpaid: Decimal
    unpaid_count: int
    held: Decimal
    held_count: int


def technicians_for(user) -> QuerySet[Staff]:
    """The technicians (staff who do visits) of the units the user may see."""
    agenda = StaffRole.objects.filter(staff=OuterRef("pk"), role__in=list(AGENDA_ROLES))
    return (
        staff_for(user)
        .filter(Exists(agenda))
        .select_related("pay_rule")
        .prefetch_related("roles")
        .order_by("user__first_name", "user__last_name", "pk")
    )


def pay_overview(user) -> list[TechnicianPay]:
    """Per technician the user may see: pay rule, unpaid earnings and cash held. Four queries
    whatever the number of technicians."""
    from slotwise.payments.models import Holder, Payment

    staff = list(technicians_for(user))
    ids = [s.pk for s in staff]
    unpaid = {
        r["technician"]: r
        for r in Earning.objects.filter(technician__in=ids, payout__isnull=True)
        .filter(currency=F("organisation__currency"))
        .values("technician")
        .annotate(total=Sum("total"), count=Count("pk"))
        .order_by()
    }
    held = {
        r["received_by"]: r
        for r in Payment.objects.filter(
            received_by__in=ids,
            provider="manual",
            holder=Holder.STAFF,
            handed_over_at__isnull=True,
            paid_amount__gt=0,
            currency=F("organisation__currency"),
        )
        .values("received_by")
        .annotate(total=Sum(F("paid_amount") - F("refunded_amount")), count=Count("pk"))
        .order_by()
    }
    return [
        TechnicianPay(
            staff=s,
            rule=getattr(s, "pay_rule", None),
            unpaid=_dec(unpaid.get(s.pk, {}).get("total")),
            unpaid_count=unpaid.get(s.pk, {}).get("count", 0),
            held=_dec(held.get(s.pk, {}).get("total")),
            held_count=held.get(s.pk, {}).get("count", 0),
        )
        for s in staff
    ]


# -- payouts ------------------------------------------------------------------------------------


def payout_record(
    *,
    technician: Staff,
    up_to,
    note: str = "",
    expected_amount=None,
    actor=None,
    now: datetime.datetime | None = None,
) -> Payout:
    """Pay `technician` every unpaid earning up to the date `up_to` (inclusive, not in the future):
    the payout's amount is exactly their sum, and they are marked paid in the same transaction.
    With `expected_amount` (the sum the manager saw) a different sum is refused — an order
    confirmed in the meantime is not paid without being seen."""
    now = now or timezone.now()
    organisation = technician.organisation
    errors: dict[str, str] = {}
    if not isinstance(up_to, datetime.date) or isinstance(up_to, datetime.datetime):
        errors["up_to"] = _("Enter a valid date.")
    elif up_to > timezone.localtime(now, ZoneInfo(organisation.time_zone)).date():
        errors["up_to"] = _("Choose today or an earlier date.")
    expected = None
    if expected_amount not in (None, ""):
        try:
            expected = Decimal(str(expected_amount).strip().replace(",", "."))
            if not expected.is_finite():
                raise InvalidOperation
        except (InvalidOperation, ValueError, TypeError):
            errors["amount"] = _("Enter a number.")
    note = (note or "").strip()
    if len(note) > 255:
        errors["note"] = _("At most %(count)s characters.") % {"count": 255}
    if errors:
        raise ValidationError(errors)
    currency = organisation.currency
    with transaction.atomic():
        earnings = list(
            unpaid_earnings(technician, up_to=up_to, currency=currency)
            .select_for_update(of=("self",))
            .order_by("pk")
        )
        if not earnings:
            raise ValidationError({"up_to": _("There are no unpaid earnings up to this date.")})
        amount = Money.of(0, currency)
        for earning in earnings:
            amount += Money(earning.total, currency)
        if expected is not None and expected != amount.amount:
            raise ValidationError(
                {
                    "amount": _(
                        "The unpaid earnings changed in the meantime: they now add up to "
                        "%(amount)s %(currency)s. Check and record the payout again."
                    )
                    % {"amount": amount.amount, "currency": currency}
                }
            )
        payout = Payout.objects.create(
            organisation=organisation,
            technician=technician,
            amount=amount.amount,
            currency=currency,
            period_end=up_to,
            paid_at=now,
            note=note,
            created_by=_user(actor),
        )
        marked = Earning.objects.filter(
            pk__in=[e.pk for e in earnings], payout__isnull=True
        ).update(payout=payout)
        if marked != len(earnings):  # pragma: no cover - the row locks make this impossible
            raise Conflict(_("These earnings were paid out in the meantime."))
    return payout


# -- the completion questionnaire's settings ----------------------------------------------------


def questions_of(organisation) -> QuerySet[Question]:
    """All the organisation's own questions, active first, in their order."""
    return Question.objects.filter(organisation=organisation).order_by("-active", "position", "pk")


def _clean_question(text, kind, required, position) -> dict:
    errors: dict[str, str] = {}
    text = (text or "").strip()
    if not text:
        errors["text"] = _("Write the question.")
    elif len(text) > 255:
        errors["text"] = _("At most %(count)s characters.") % {"count": 255}
    if kind not in Question.Kind.values:
        errors["kind"] = _("Choose the kind of answer.")
    try:
        position = int(str(position).strip() or 0) if position is not None else 0
        if not 0 <= position <= 32767:
            raise ValueError
    except (TypeError, ValueError):
        errors["position"] = _("Enter a whole number from 0 to 32767.")
    if errors:
        raise ValidationError(errors)
    return {"text": text, "kind": kind, "required": bool(required), "position": position}


def question_save(
    *,
    organisation,
    text,
    kind,
    required=True,
    position=None,
    question: Question | None = None,
    actor=None,
) -> Question:
    """Add a question to the organisation's completion questionnaire, or change one. Answers
    already given keep the question's text as it was asked. While an organisation has no active
    question of its own, the built-in defaults are asked (`questionnaire.DEFAULT_QUESTIONS`)."""
    if question is not None and question.organisation_id != organisation.pk:
        raise ValidationError({"question": _("Choose a question of the organisation.")})
    if position in (None, "") and question is None:
        last = questions_of(organisation).order_by("-position").values_list("position", flat=True)
        position = (last.first() or 0) + 1
    elif position in (None, ""):
        position = question.position
    values = _clean_question(text, kind, required, position)
    with transaction.atomic():
        if question is None:
            return Question.objects.create(organisation=organisation, **values)
        question = Question.objects.select_for_update().get(pk=question.pk)
        for name, value in values.items():
            setattr(question, name, value)
        question.save()
    return question


def question_set_active(*, question: Question, active: bool, actor=None) -> Question:
    """Deactivate a question (it is no longer asked; answers given keep it) or bring it back."""
    with transaction.atomic():
        question = Question.objects.select_for_update().get(pk=question.pk)
        question.active = bool(active)
        question.save(update_fields=["active", "updated_at"])
    return question


def questions_from_defaults(*, organisation, actor=None) -> list[Question]:
    """Copy the built-in questions into the organisation's own, to edit them; nothing happens
    when it already has questions of its own."""
    from .questionnaire import DEFAULT_QUESTIONS

    with transaction.atomic():
        # the organisation's row lock: two clicks at once copy the defaults once
        Organisation.objects.select_for_update().filter(pk=organisation.pk).first()
        if Question.objects.filter(organisation=organisation).exists():
            return list(questions_of(organisation))
        return [
            Question.objects.create(
                organisation=organisation, text=str(text), kind=kind, required=True, position=i
            )
            for i, (_key, text, kind) in enumerate(DEFAULT_QUESTIONS, start=1)
        ]
