"""In-memory stand-ins for the services' seams (PaymentsStore, CardProcessor; OrdersStore, DeliveryScheduler).

Each store applies the same rule as its repository's conditional writes (payments.domain.sources and the
claim named when leaving processing; orders.domain.TRANSITIONS), so service tests exercise the real
decisions fast; the moto-backed handler tests keep the DynamoDB wiring honest.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Generic, TypeVar

from orders.domain import TRANSITIONS as ORDER_TRANSITIONS
from orders.domain import OrderStatus
from orders.models import OrderRecord
from payments.domain import UNSETTLED, PaymentStatus
from payments.models import PaymentRecord
from payments.processor import Card, ChargeResult, MemoryLedger, SandboxProcessor
from payments.repository import Move
from platform_core.dynamo import TransitionRejectedError


class ThrottledError(Exception):
    """What a throttled AWS call (a DynamoDB write, a Step Functions start) looks like to the service: an error
    it does not handle."""


Record = TypeVar("Record", PaymentRecord, OrderRecord)


class _MemoryTable(Generic[Record]):
    """Records keyed (userId, sort key) as the tables are; pages newest first (the sort keys are ULIDs)."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], Record] = {}
        self.lock = threading.Lock()

    def key(self, record: Record) -> tuple[str, str]:
        raise NotImplementedError

    def get(self, user_id: str, item_id: str, *, consistent: bool = False) -> Record | None:
        return self.records.get((user_id, item_id))

    def page(self, user_id: str, limit: int, next_token: str | None) -> tuple[list[Record], str | None]:
        mine = [r for (u, _), r in sorted(self.records.items(), reverse=True) if u == user_id]
        start = int(next_token or 0)
        page = mine[start : start + limit]
        return page, str(start + limit) if start + limit < len(mine) else None

    def add(self, record: Record) -> bool:
        """attribute_not_exists(userId): False when the key is taken (also by this very record)."""
        with self.lock:
            if self.key(record) in self.records:
                return False
            self.records[self.key(record)] = record
            return True


class FakePaymentsStore(_MemoryTable[PaymentRecord]):
    def __init__(self) -> None:
        super().__init__()
        self.fail_next_moves = 0
        self.tokens: dict[tuple[str, str], str | None] = {}  # the token of each payment's last change

    def key(self, record: PaymentRecord) -> tuple[str, str]:
        return record.userId, record.orderId

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
                if (
                    current is not None
                    and change.token is not None
                    and current.status == change.target
                    and self.tokens.get((user_id, order_id)) == change.token
                ):
                    return current  # this very change, made before (platform_core.dynamo.Transition)
                raise TransitionRejectedError(current)
            moved = current.model_copy(update={**change.fields(), "card": change.card or current.card})
            moved = moved.model_copy(update={"status": change.target})
            self.records[(user_id, order_id)] = moved
            self.tokens[(user_id, order_id)] = change.token
            return moved

    def request_cancel(self, user_id: str, order_id: str) -> bool:
        with self.lock:
            current = self.records.get((user_id, order_id))
            if current is None or current.status != PaymentStatus.PROCESSING:
                return False
            self.records[(user_id, order_id)] = current.model_copy(update={"cancelRequested": True})
            return True

    def unsettled(self, claimed_before: str) -> Iterator[PaymentRecord]:
        """What the sparse index UnsettledPayments holds: unsettled statuses only, claimed before the time."""
        with self.lock:
            found = [
                r
                for r in self.records.values()
                if r.status in UNSETTLED and r.claimedAt is not None and r.claimedAt < claimed_before
            ]
        yield from found

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


class FakeOrdersStore(_MemoryTable[OrderRecord]):
    """OrdersTable in memory: a status changes only from one of its target's sources, as the
    repository's (and the delivery state machine's) conditional UpdateItem allows."""

    def key(self, record: OrderRecord) -> tuple[str, str]:
        return record.userId, record.id

    def move(self, user_id: str, order_id: str, target: OrderStatus, *, now: str, correlation_id: str) -> OrderRecord:
        with self.lock:
            current = self.records.get((user_id, order_id))
            if current is None or current.status not in ORDER_TRANSITIONS[target]:
                raise TransitionRejectedError(current)
            moved = current.model_copy(update={"status": target, "updatedAt": now, "correlationId": correlation_id})
            self.records[(user_id, order_id)] = moved
            return moved


class FakeDeliveryScheduler:
    """The delivery state machine in memory: one execution per order (named after it, as
    StepFunctionsDeliveryScheduler starts them), run when the test says the delay is over."""

    def __init__(self, store: FakeOrdersStore) -> None:
        self.store = store
        self.calls: list[tuple[str, str, str]] = []
        self.executions: dict[str, tuple[str, str]] = {}  # order id -> (user id, correlation id)
        self.fail_next = 0

    def schedule(self, user_id: str, order_id: str, correlation_id: str) -> None:
        self.calls.append((user_id, order_id, correlation_id))
        if self.fail_next:
            self.fail_next -= 1
            raise ThrottledError("Step Functions StartExecution throttled")
        self.executions.setdefault(order_id, (user_id, correlation_id))  # ExecutionAlreadyExists: ignored

    def run_all(self, now: str = "2026-01-01T00:01:00.000Z") -> None:
        """Each execution after its wait: `delivered` only if the order is still `confirmed`."""
        for order_id, (user_id, correlation_id) in self.executions.items():
            # A failed condition (cancelled meanwhile) ends the execution quietly: the order is left as it is.
            with contextlib.suppress(TransitionRejectedError):
                self.store.move(user_id, order_id, OrderStatus.DELIVERED, now=now, correlation_id=correlation_id)
