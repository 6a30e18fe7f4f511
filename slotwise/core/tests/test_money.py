from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slotwise.core.money import MINOR_UNITS, Money, MoneyError

currencies = st.sampled_from(sorted(MINOR_UNITS))
minor_amounts = st.integers(min_value=-(10**12), max_value=10**12)


@st.composite
def money(draw, currency=None):
    cur = currency or draw(currencies)
    return Money.from_minor(draw(minor_amounts), cur)


@given(
    total=minor_amounts,
    currency=currencies,
    ratios=st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=12).filter(
        lambda r: sum(r) > 0
    ),
)
def test_allocate_sums_exactly(total, currency, ratios):
    amount = Money.from_minor(total, currency)
    parts = amount.allocate(ratios)
    assert len(parts) == len(ratios)
    assert sum((p.minor for p in parts), 0) == amount.minor
    assert all(p.currency == currency for p in parts)
    # Each part is within one minor unit of its exact share.
    for part, ratio in zip(parts, ratios, strict=True):
        exact = Decimal(total) * ratio / sum(ratios)
        assert abs(Decimal(part.minor) - exact) < 1


@given(data=st.data(), currency=currencies)
def test_add_sub_associative(data, currency):
    a, b, c = (data.draw(money(currency)) for _ in range(3))
    assert (a + b) + c == a + (b + c)
    assert (a - b) - c == a - (b + c)
    assert (a + b) - b == a


@given(a=money(), b=money())
def test_different_currencies_refuse(a, b):
    if a.currency == b.currency:
        return
    with pytest.raises(MoneyError):
        a + b
    with pytest.raises(MoneyError):
        a - b
    with pytest.raises(MoneyError):
        assert a < b


@pytest.mark.parametrize("value", [1.5, 0.1])
def test_float_refused(value):
    with pytest.raises(MoneyError):
        Money(value, "EUR")
    with pytest.raises(MoneyError):
        Money.of("10", "EUR") * value


def test_unknown_currency_and_garbage_refused():
    with pytest.raises(MoneyError):
        Money.of("1", "XXX")
    with pytest.raises(MoneyError):
        Money.of("abc", "EUR")
    with pytest.raises(MoneyError):
        Money(Decimal("NaN"), "EUR")


@given(
    currency=currencies,
    amount=st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, allow_infinity=False),
)
def test_quantised_per_currency(currency, amount):
    m = Money(amount, currency)
    assert m.amount.as_tuple().exponent == -MINOR_UNITS[currency]
    assert abs(m.amount - amount) <= Decimal(1).scaleb(-MINOR_UNITS[currency]) / 2


def test_quantisation_examples():
    assert Money.of("10.005", "EUR").amount == Decimal("10.00")  # half-even
    assert Money.of("10.015", "EUR").amount == Decimal("10.02")
    assert Money.of("1234.5", "JPY").amount == Decimal("1234")
    assert Money.of("1235.5", "JPY").amount == Decimal("1236")
    assert Money.from_minor(1999, "SEK").amount == Decimal("19.99")
    assert Money.of("19.99", "SEK").minor == 1999
    assert str(Money.of("5", "USD")) == "5.00 USD"


def test_allocate_bad_ratios():
    with pytest.raises(MoneyError):
        Money.of("10", "EUR").allocate([])
    with pytest.raises(MoneyError):
        Money.of("10", "EUR").allocate([0, 0])
    with pytest.raises(MoneyError):
        Money.of("10", "EUR").allocate([1, -1])
