"""In-memory stand-ins for the payments service's seams (PaymentsStore, CardProcessor).

The store applies the same rule as PaymentsRepository's conditional writes (payments.domain.sources,
and the claim named when leaving processing), so service tests exercise the real decisions fast;
the moto-backed handler tests keep the DynamoDB wiring honest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

from payments.models import PaymentRecord
from payments.processor import Card, ChargeResult, MemoryLedger, SandboxProcessor
from payments.repository import Move, PaymentRejectedError


class ThrottledError(Exception):
    """What a throttled DynamoDB write looks like to the service: an error it does not handle."""


class FakePaymentsStore:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], PaymentRecord] = {}
        self.lock = threading.Lock()
        self.fail_next_moves = 0

    def get(self, user_id: str, order_id: str, *, consistent: bool = False) -> PaymentRecord | None:
        return self.records.get((user_id, order_id))

    def page(self, user_id: str, limit: int, next_token: str | None) -> tuple[list[PaymentRecord], str | None]:
        mine = sorted((r for (u, _), r in self.records.items() if u == user_id), key=lambda r: r.orderId, reverse=True)
        start = int(next_token or 0)
        page = mine[start : start + limit]
        return page, str(start + limit) if start + limit < len(mine) else None

    def add(self, record: PaymentRecord) -> bool:
        with self.lock:
            return self.records.setdefault((record.userId, record.orderId), record) is record

    def move(self, user_id: str, order_id: str, change: Move) -> PaymentRecord:
        with self.lock:
            if self.fail_next_moves:
                self.fail_next_moves -= 1
                raise ThrottledError("ProvisionedThroughputExceededException")
            current = self.records.get((user_id, order_id))
            if (
                current is None
                or current.status not in change.sources()
                or (change.claim_id is not None and current.claimId != change.claim_id)
            ):
                raise PaymentRejectedError(current)
            moved = current.model_copy(update={**change.fields(), "card": change.card or current.card})
            moved = moved.model_copy(update={"status": change.target})
            self.records[(user_id, order_id)] = moved
            return moved

    def age_claim(self, user_id: str, order_id: str) -> None:
        """As if the claim's function had died long ago."""
        record = self.records[(user_id, order_id)]
        self.records[(user_id, order_id)] = record.model_copy(update={"claimedAt": "2026-01-01T00:00:00.000Z"})


class FakeProcessor(SandboxProcessor):
    """The sandbox (in-memory ledger), with a hook right after a charge and a log of every call."""

    def __init__(self) -> None:
        self.ledger = MemoryLedger()
        super().__init__(self.ledger)
        self.during_charge: Callable[[], None] | None = None
        self.charge_calls: list[str] = []
        self.refund_calls: list[str] = []

    def charge(self, *, idempotency_key: str, amount: Decimal, card: Card) -> ChargeResult:
        result = super().charge(idempotency_key=idempotency_key, amount=amount, card=card)
        self.charge_calls.append(idempotency_key)
        if self.during_charge is not None:
            hook, self.during_charge = self.during_charge, None
            hook()
        return result

    def refund(self, *, idempotency_key: str, charge_key: str, amount: Decimal) -> None:
        super().refund(idempotency_key=idempotency_key, charge_key=charge_key, amount=amount)
        self.refund_calls.append(idempotency_key)

    def ledger_kinds(self) -> dict[str, int]:
        kinds = [entry["kind"] for entry in self.ledger.entries.values()]
        return {kind: kinds.count(kind) for kind in sorted(set(kinds))}
