"""Money: a Decimal amount with an ISO 4217 currency. Never a float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

# Minor units per currency (ISO 4217) for the currencies the cases use, plus common ones.
MINOR_UNITS = {"SEK": 2, "EUR": 2, "USD": 2, "RUB": 2, "GBP": 2, "NOK": 2, "DKK": 2, "JPY": 0}
CURRENCIES = sorted(MINOR_UNITS)


class MoneyError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if self.currency not in MINOR_UNITS:
            raise MoneyError(f"unknown currency {self.currency!r}")
        if not isinstance(self.amount, Decimal):
            raise MoneyError("amount must be a Decimal")
        if not self.amount.is_finite():
            raise MoneyError("amount must be finite")
        quantum = Decimal(1).scaleb(-MINOR_UNITS[self.currency])
        object.__setattr__(self, "amount", self.amount.quantize(quantum, rounding=ROUND_HALF_EVEN))

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Money:
        try:
            return cls(Decimal(str(amount)), currency)
        except InvalidOperation as exc:
            raise MoneyError(f"not an amount: {amount!r}") from exc

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        return cls(Decimal(minor).scaleb(-MINOR_UNITS[currency]), currency)

    @property
    def minor(self) -> int:
        return int(self.amount.scaleb(MINOR_UNITS[self.currency]))

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money) or other.currency != self.currency:
            raise MoneyError("cannot combine different currencies")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: int | Decimal) -> Money:
        if isinstance(factor, float):
            raise MoneyError("multiply money by int or Decimal, never float")
        return Money(self.amount * factor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def allocate(self, ratios: list[int]) -> list[Money]:
        """Split into parts proportional to `ratios`; the parts add up exactly (largest remainder)."""
        if not ratios or any(r < 0 for r in ratios) or sum(ratios) == 0:
            raise MoneyError("ratios must be non-negative and not all zero")
        total = self.minor
        shares = [total * r // sum(ratios) for r in ratios]
        remainder = total - sum(shares)
        order = sorted(range(len(ratios)), key=lambda i: -((total * ratios[i]) % sum(ratios)))
        for i in order[: abs(remainder)]:
            shares[i] += 1 if remainder > 0 else -1
        return [Money.from_minor(s, self.currency) for s in shares]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
