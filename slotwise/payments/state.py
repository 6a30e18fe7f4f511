"""A payment's status as a function of facts, and facts only ever grow.

Providers tell us facts: "pending at the payer's bank", "captured 500.00", "refunded 200.00 in
total", "failed", "cancelled". `Facts` is a join-semilattice: `join` takes the union of flags and
the maximum of amounts, so it is commutative, associative and idempotent. Applying callbacks is
`join`-ing their facts into what we know, which makes three guarantees by construction:

- the same callback delivered ten times changes the state once (idempotent);
- callbacks arriving in any order end in the same state (a refund seen before the capture is kept
  and counted once the capture arrives; a late "pending" can't undo "paid");
- money facts win over our own bookkeeping: a capture reported after we cancelled an expired
  payment makes it paid (and the caller then re-books or refunds, see `services`).

Pure Python, no Django: property-tested in `tests/test_state.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

CREATED = "created"
PENDING = "pending"
PAID = "paid"
FAILED = "failed"
CANCELLED = "cancelled"
PARTIALLY_REFUNDED = "partially_refunded"
REFUNDED = "refunded"

ZERO = Decimal("0")


@dataclass(frozen=True, slots=True)
class Facts:
    pending: bool = False
    paid: Decimal = ZERO  # captured, cumulative
    refunded: Decimal = ZERO  # refunded, cumulative
    failed: bool = False
    cancelled: bool = False

    def join(self, other: Facts) -> Facts:
        return Facts(
            pending=self.pending or other.pending,
            paid=max(self.paid, other.paid),
            refunded=max(self.refunded, other.refunded),
            failed=self.failed or other.failed,
            cancelled=self.cancelled or other.cancelled,
        )

    def with_refunded(self, refunded: Decimal) -> Facts:
        return replace(self, refunded=max(self.refunded, refunded))


def status_of(facts: Facts) -> str:
    """The status the facts imply. Captured money decides first; a refund not yet matched by a
    capture waits (it can't make a payment refunded that was never paid)."""
    if facts.paid > ZERO:
        refunded = min(facts.refunded, facts.paid)
        if refunded >= facts.paid:
            return REFUNDED
        if refunded > ZERO:
            return PARTIALLY_REFUNDED
        return PAID
    if facts.failed:
        return FAILED
    if facts.cancelled:
        return CANCELLED
    if facts.pending:
        return PENDING
    return CREATED


def refundable(facts: Facts) -> Decimal:
    """What may still be refunded."""
    return max(facts.paid - facts.refunded, ZERO)
