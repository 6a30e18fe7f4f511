"""Order totals and technicians' earnings, exact in `Decimal` (property-tested in
`tests/test_money_properties.py`). Pure Python: plain values in, `Totals` / `Pay` out.

Rounding: each line's net (quantity × unit price) and tax are rounded to the currency's minor
unit half-even (`core.money.Money`), then summed — so the order's total is always the sum of
what its lines show, and an invoice made from the lines adds up the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from slotwise.core.money import Money

HUNDRED = Decimal("100")


@dataclass(frozen=True, slots=True)
class LineValue:
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal = Decimal("0")
    kind: str = "service"


@dataclass(frozen=True, slots=True)
class Totals:
    net: Money
    tax: Money
    total: Money
    labour: Money  # net of labour lines (the base of the technician's share)
    extras: Money  # net of service and goods lines
    travel: Money  # net of travel-charge lines


def line_net(line: LineValue, currency: str) -> Money:
    return Money(line.quantity * line.unit_price, currency)


def line_tax(line: LineValue, currency: str) -> Money:
    return Money(line_net(line, currency).amount * line.tax_rate / HUNDRED, currency)


def totals(lines: Iterable[LineValue], currency: str) -> Totals:
    zero = Money(Decimal("0"), currency)
    net = tax = labour = extras = travel = zero
    for line in lines:
        n = line_net(line, currency)
        net += n
        tax += line_tax(line, currency)
        if line.kind == "labour":
            labour += n
        elif line.kind == "travel":
            travel += n
        else:
            extras += n
    return Totals(net=net, tax=tax, total=net + tax, labour=labour, extras=extras, travel=travel)


@dataclass(frozen=True, slots=True)
class PayRuleValue:
    labour_share_percent: Decimal = Decimal("0")
    fixed_per_job: Decimal = Decimal("0")
    mileage_rate: Decimal = Decimal("0")


@dataclass(frozen=True, slots=True)
class Pay:
    labour: Money
    fixed: Money
    mileage: Money
    tips: Money
    total: Money


def pay_for(*, rule: PayRuleValue, labour: Money, miles: Decimal, tips: Money) -> Pay:
    """The technician's pay for one order: share of the labour + fixed + miles × rate + tips.
    Each part is rounded to the minor unit; the total is their sum."""
    currency = labour.currency
    share = Money(labour.amount * rule.labour_share_percent / HUNDRED, currency)
    fixed = Money(rule.fixed_per_job, currency)
    mileage = Money(miles * rule.mileage_rate, currency)
    return Pay(
        labour=share,
        fixed=fixed,
        mileage=mileage,
        tips=tips,
        total=share + fixed + mileage + tips,
    )
