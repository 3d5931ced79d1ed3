"""The card processor interface and its deterministic sandbox.

A real provider implements CardProcessor; it must treat the order id as the charge's
idempotency key so that racing pay requests can never charge twice (only one of them
wins the conditional write that records the result).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from payments.cards import Expiry

DECLINED_CARD = "4000000000000002"
INSUFFICIENT_FUNDS_CARD = "4000000000009995"


@dataclass(frozen=True)
class Card:
    number: str  # digits only; never stored, logged or returned
    cvc: str
    expiry: Expiry

    @property
    def last4(self) -> str:
        return self.number[-4:]

    def __repr__(self) -> str:  # keeps the number out of tracebacks and debug logs
        return f"Card(last4={self.last4!r})"


@dataclass(frozen=True)
class ChargeResult:
    approved: bool
    decline_reason: str | None = None


class CardProcessor(Protocol):
    def charge(self, *, idempotency_key: str, amount: Decimal, card: Card) -> ChargeResult: ...

    def refund(self, *, idempotency_key: str, amount: Decimal) -> None: ...


class SandboxProcessor:
    """Deterministic outcomes by card (see the contract's sandbox table)."""

    def __init__(self, clock: type[datetime] = datetime) -> None:
        self._clock = clock

    def charge(self, *, idempotency_key: str, amount: Decimal, card: Card) -> ChargeResult:
        if card.number == DECLINED_CARD:
            return ChargeResult(False, "card_declined")
        if card.number == INSUFFICIENT_FUNDS_CARD:
            return ChargeResult(False, "insufficient_funds")
        if card.expiry.is_past(self._clock.now(UTC)):
            return ChargeResult(False, "expired_card")
        return ChargeResult(True)

    def refund(self, *, idempotency_key: str, amount: Decimal) -> None:
        return None
