"""Property tests (hypothesis) of the work orders' money (`money.py`), exact in `Decimal`:

- an order's totals are the sum of its lines' rounded nets and taxes, whatever their order, and
  split exactly into labour + extras + travel;
- totals add up over any split of the lines (so approved extras raise the total by exactly
  their own total) — and through the services: approving extras raises the agreed total by
  exactly their total, rejecting them changes nothing;
- a technician's pay is share + fixed + mileage + tips, each part rounded to the minor unit;
- a payout is exactly the sum of the earnings it pays, and pays each of them once.

Pure properties run many examples; the database ones run the real services on a few."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slotwise.core.errors import ValidationError
from slotwise.core.money import MINOR_UNITS, Money
from slotwise.workorders import earnings, money, services
from slotwise.workorders.models import Earning, LineState, Source, Status

from .fixtures import LA, World, local, next_day

CURRENCIES = st.sampled_from(["SEK", "USD", "EUR", "RUB"])
KINDS = st.sampled_from(["labour", "service", "goods", "travel"])
PURE = settings(max_examples=300, deadline=None)
DB = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

quantities = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("1000"), places=3)
prices = st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=2)
rates = st.one_of(
    st.sampled_from([Decimal(r) for r in ("0", "6", "8.25", "10", "12", "20", "21", "25")]),
    st.decimals(min_value=Decimal("0"), max_value=Decimal("100"), places=2),
)
line_values = st.builds(
    money.LineValue, quantity=quantities, unit_price=prices, tax_rate=rates, kind=KINDS
)
lines_st = st.lists(line_values, min_size=0, max_size=10)
amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=2)


def _round(value: Decimal, currency: str) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-MINOR_UNITS[currency]), rounding=ROUND_HALF_EVEN)


def _is_exact(m: Money) -> bool:
    return isinstance(m.amount, Decimal) and m.amount == _round(m.amount, m.currency)


# -- totals -------------------------------------------------------------------------------------


@PURE
@given(currency=CURRENCIES, lines=lines_st)
def test_total_is_the_sum_of_rounded_line_nets_and_taxes(currency, lines):
    t = money.totals(lines, currency)
    nets = [_round(x.quantity * x.unit_price, currency) for x in lines]
    taxes = [_round(n * x.tax_rate / 100, currency) for n, x in zip(nets, lines, strict=True)]
    assert t.net.amount == sum(nets, Decimal(0))
    assert t.tax.amount == sum(taxes, Decimal(0))
    assert t.total.amount == t.net.amount + t.tax.amount
    assert t.labour + t.extras + t.travel == t.net
    assert t.labour.amount == sum(
        (n for n, x in zip(nets, lines, strict=True) if x.kind == "labour"), Decimal(0)
    )
    assert t.travel.amount == sum(
        (n for n, x in zip(nets, lines, strict=True) if x.kind == "travel"), Decimal(0)
    )
    for part in (t.net, t.tax, t.total, t.labour, t.extras, t.travel):
        assert part.currency == currency and _is_exact(part)
    # per-line rounding: at most half a minor unit per line from the exact sum
    exact = sum((x.quantity * x.unit_price for x in lines), Decimal(0))
    half = Decimal(1).scaleb(-MINOR_UNITS[currency]) / 2
    assert abs(t.net.amount - exact) <= half * len(lines)


@PURE
@given(currency=CURRENCIES, lines=lines_st, seed=st.integers(0, 2**32))
def test_totals_do_not_depend_on_the_order_of_the_lines(currency, lines, seed):
    shuffled = list(lines)
    random.Random(seed).shuffle(shuffled)
    assert money.totals(shuffled, currency) == money.totals(lines, currency)


@PURE
@given(currency=CURRENCIES, agreed=lines_st, extras=lines_st)
def test_totals_add_up_over_any_split_of_the_lines(currency, agreed, extras):
    """The order with its extras approved = the order before + the extras alone."""
    before = money.totals(agreed, currency)
    alone = money.totals(extras, currency)
    after = money.totals([*agreed, *extras], currency)
    assert after.total == before.total + alone.total
    assert after.net == before.net + alone.net and after.tax == before.tax + alone.tax
    assert after.extras == before.extras + alone.extras


@PURE
@given(currency=CURRENCIES, line=line_values)
def test_line_tax_is_on_the_rounded_net(currency, line):
    net = money.line_net(line, currency)
    assert money.line_tax(line, currency).amount == _round(
        net.amount * line.tax_rate / 100, currency
    )


# -- pay ----------------------------------------------------------------------------------------

rules_st = st.builds(
    money.PayRuleValue,
    labour_share_percent=st.decimals(min_value=Decimal("0"), max_value=Decimal("100"), places=2),
    fixed_per_job=st.decimals(min_value=Decimal("0"), max_value=Decimal("1000"), places=2),
    mileage_rate=st.decimals(min_value=Decimal("0"), max_value=Decimal("10"), places=3),
)
miles_st = st.decimals(min_value=Decimal("0"), max_value=Decimal("2000"), places=1)


@PURE
@given(currency=CURRENCIES, rule=rules_st, labour=amounts, miles=miles_st, tips=amounts)
def test_pay_is_share_plus_fixed_plus_mileage_plus_tips_each_rounded(
    currency, rule, labour, miles, tips
):
    pay = money.pay_for(
        rule=rule, labour=Money(labour, currency), miles=miles, tips=Money(tips, currency)
    )
    assert pay.labour.amount == _round(labour * rule.labour_share_percent / 100, currency)
    assert pay.fixed.amount == _round(rule.fixed_per_job, currency)
    assert pay.mileage.amount == _round(miles * rule.mileage_rate, currency)
    assert pay.tips == Money(tips, currency)  # tips go to the technician, whole
    assert pay.total == pay.labour + pay.fixed + pay.mileage + pay.tips
    assert 0 <= pay.labour.amount <= Money(labour, currency).amount  # a share of 0–100 %
    for part in (pay.labour, pay.fixed, pay.mileage, pay.tips, pay.total):
        assert part.currency == currency and _is_exact(part)


@PURE
@given(
    currency=CURRENCIES,
    rule=rules_st,
    jobs=st.lists(st.tuples(amounts, miles_st, amounts), min_size=1, max_size=20),
)
def test_a_payout_is_exactly_the_sum_of_the_pay_per_order(currency, rule, jobs):
    pays = [
        money.pay_for(
            rule=rule, labour=Money(labour, currency), miles=miles, tips=Money(tips, currency)
        )
        for labour, miles, tips in jobs
    ]
    total = Money(Decimal(0), currency)
    for pay in pays:
        total += pay.total
    parts = sum(
        (p.labour.amount + p.fixed.amount + p.mileage.amount + p.tips.amount for p in pays),
        Decimal(0),
    )
    assert total.amount == parts == sum((p.total.amount for p in pays), Decimal(0))


# -- through the services -----------------------------------------------------------------------

_slot = itertools.count()
service_lines = st.lists(
    st.tuples(
        st.sampled_from(["service", "goods"]),
        st.decimals(min_value=Decimal("1"), max_value=Decimal("20"), places=1),
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999.99"), places=2),
        st.sampled_from([Decimal("0"), Decimal("8.25"), Decimal("25")]),
    ),
    min_size=1,
    max_size=4,
)


def _as_inputs(rows):
    return [
        services.LineInput(kind=kind, name=f"{kind} {i}", quantity=q, unit_price=p, tax_rate=r)
        for i, (kind, q, p, r) in enumerate(rows)
    ]


def _as_values(rows):
    return [money.LineValue(q, p, r, kind) for kind, q, p, r in rows]


def _order_in_progress(w, currency, labour_price):
    """A started order (through the services) at a time nobody else uses."""
    if w.org.currency != currency:
        w.org.currency = currency
        w.org.save(update_fields=["currency"])
    order = services.work_order_create(
        organisation=w.org,
        contact=w.contact,
        source=Source.PHONE,
        title="Repair",
        type=w.type,
        location=w.location,
        lines=[
            services.LineInput(
                kind="labour", name="Labour", quantity="1", unit_price=labour_price, tax_rate="10"
            )
        ],
    )
    i = next(_slot)
    start = local(next_day(7 + i // 10), 8 + i % 10)
    order = services.work_order_assign(
        order=order, technician=w.tech, start=start, actor=w.manager.user
    )
    return services.work_order_act(order=order, action="start", actor=w.tech.user)


@pytest.fixture
def world():
    return World()


@pytest.mark.django_db
@DB
@given(
    currency=CURRENCIES,
    labour=st.decimals(min_value=Decimal("1"), max_value=Decimal("999"), places=2),
    rows=service_lines,
    approve=st.booleans(),
)
def test_extras_approved_add_exactly_their_total_rejected_change_nothing(
    world, currency, labour, rows, approve
):
    order = _order_in_progress(world, currency, labour)
    before = (order.net_total, order.tax_total, order.total)
    extra = money.totals(_as_values(rows), currency)
    order = services.extras_submit(order=order, lines=_as_inputs(rows), actor=world.tech.user)
    assert order.status == Status.NEEDS_CONFIRMATION
    assert (order.net_total, order.tax_total, order.total) == before  # nothing agreed yet
    assert order.proposed_total == before[2] + extra.total.amount
    request = order.extras_requests.get()
    assert request.proposed_total - request.previous_total == extra.total.amount
    order = services.extras_decide(
        order=order, approve=approve, note="" if approve else "Too much", actor=world.manager.user
    )
    order.refresh_from_db()
    assert order.status == Status.IN_PROGRESS
    if approve:
        assert order.net_total == before[0] + extra.net.amount
        assert order.tax_total == before[1] + extra.tax.amount
        assert order.total == before[2] + extra.total.amount
    else:
        assert (order.net_total, order.tax_total, order.total) == before
        assert set(order.lines.filter(on_site=True).values_list("state", flat=True)) == {
            LineState.REJECTED
        }
    assert order.proposed_total == order.total
    # the stored totals are what money.py makes of the agreed lines
    assert services.order_totals(order).total.amount == order.total


@pytest.mark.django_db
@DB
@given(totals=st.lists(amounts, min_size=1, max_size=12), cut=st.integers(0, 12))
def test_payout_sums_exactly_and_pays_each_earning_once(world, totals, cut):
    w = world
    Earning.objects.filter(technician=w.tech).delete()
    today = dt.datetime.now(LA).date()
    days = [today - dt.timedelta(days=len(totals) - i) for i in range(len(totals))]
    for day, total in zip(days, totals, strict=True):
        order = services.work_order_create(
            organisation=w.org, contact=w.contact, source=Source.MANUAL, title="Done"
        )
        Earning.objects.create(
            organisation=w.org,
            order=order,
            technician=w.tech,
            earned_on=day,
            currency=w.org.currency,
            labour=total,
            fixed=0,
            mileage=0,
            tips=0,
            total=total,
        )
    cut = min(cut, len(totals) - 1)
    up_to = days[cut]
    payout = earnings.payout_record(technician=w.tech, up_to=up_to)
    assert payout.amount == sum(totals[: cut + 1], Decimal(0))
    assert sorted(payout.earnings.values_list("total", flat=True)) == sorted(totals[: cut + 1])
    paid = payout.amount
    if cut + 1 < len(totals):
        rest = earnings.payout_record(technician=w.tech, up_to=today)
        assert rest.amount == sum(totals[cut + 1 :], Decimal(0))
        paid += rest.amount
    with pytest.raises(ValidationError):  # nothing is paid twice
        earnings.payout_record(technician=w.tech, up_to=today)
    assert paid == sum(totals, Decimal(0))
    assert not Earning.objects.filter(technician=w.tech, payout__isnull=True).exists()
