"""Property tests of the payment state lattice (pure, no database)."""

import itertools
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s

from slotwise.payments import state as st

amounts = s.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False)
# Pure and fast, but CI shares two cores with a browser and a database: no wall-clock checks.
relaxed = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

facts = s.builds(
    st.Facts,
    pending=s.booleans(),
    paid=amounts,
    refunded=amounts,
    failed=s.booleans(),
    cancelled=s.booleans(),
)


@relaxed
@given(facts, facts, facts)
def test_join_is_a_semilattice(a, b, c):
    assert a.join(b) == b.join(a)
    assert a.join(b).join(c) == a.join(b.join(c))
    assert a.join(a) == a


@relaxed
@given(s.lists(facts, min_size=1, max_size=6), s.randoms())
def test_any_order_and_any_repetition_ends_in_the_same_status(events, rnd):
    def fold(seq):
        acc = st.Facts()
        for e in seq:
            acc = acc.join(e)
        return st.status_of(acc)

    expected = fold(events)
    shuffled = list(events) * 3
    rnd.shuffle(shuffled)
    assert fold(shuffled) == expected


@relaxed
@given(facts)
def test_captured_money_decides_the_status(f):
    status = st.status_of(f)
    if f.paid > 0:
        assert status in (st.PAID, st.PARTIALLY_REFUNDED, st.REFUNDED)
        assert (status == st.REFUNDED) == (f.refunded >= f.paid)
    else:
        assert status not in (st.PAID, st.PARTIALLY_REFUNDED, st.REFUNDED)
    assert st.refundable(f) >= 0


def test_refund_seen_before_the_capture_waits_for_it():
    refund_first = st.Facts(refunded=Decimal("200.00"))
    assert st.status_of(refund_first) == st.CREATED
    both = refund_first.join(st.Facts(paid=Decimal("500.00")))
    assert st.status_of(both) == st.PARTIALLY_REFUNDED
    assert st.refundable(both) == Decimal("300.00")


def test_every_order_of_a_realistic_sequence():
    seq = [
        st.Facts(pending=True),
        st.Facts(paid=Decimal("100")),
        st.Facts(refunded=Decimal("40")),
        st.Facts(refunded=Decimal("100")),
    ]
    for perm in itertools.permutations(seq):
        acc = st.Facts()
        for e in perm:
            acc = acc.join(e)
        assert st.status_of(acc) == st.REFUNDED
