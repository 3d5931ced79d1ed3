"""The card processor interface and its deterministic sandbox.

The payment is claimed (`pending -> processing`) before the card is charged, so only one request
ever charges an order. Every call carries an idempotency key, and a charge and its refund have
different keys (real providers share one key space across endpoints). `find_charge` is what a
real provider offers to settle a claim whose function died mid-charge: ask by the charge's key.
"""

import functools
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from payments.cards import Expiry
from platform_core.config import require_env
from platform_core.dynamo import deserialize, serialize

DECLINED_CARD = "4000000000000002"
INSUFFICIENT_FUNDS_CARD = "4000000000009995"
# How long the sandbox keeps an entry (CardSandboxTable's TTL): longer than `make reconcile`'s 24 h window.
LEDGER_RETENTION = timedelta(days=7)


def charge_key(order_id: str) -> str:
    """One charge per order, whoever attempts it."""
    return f"charge/{order_id}"


def refund_key(order_id: str) -> str:
    """One refund per order, never the charge's key."""
    return f"refund/{order_id}"


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
    def charge(self, *, idempotency_key: str, amount: Decimal, card: Card) -> ChargeResult:
        """Charge once per key: a repeated key answers the first charge's result."""
        ...

    def find_charge(self, *, idempotency_key: str) -> ChargeResult | None:
        """The result of the charge made with this key, or None when the processor never saw it."""
        ...

    def refund(self, *, idempotency_key: str, charge_key: str, amount: Decimal) -> None:
        """Refund the charge made with `charge_key`, once per `idempotency_key`."""
        ...


class Ledger(Protocol):
    """Where the sandbox keeps what it was asked, as a provider does: insert once, read by key."""

    def record(self, key: str, entry: dict[str, Any]) -> dict[str, Any]:
        """Store `entry` under `key` unless something is there already; return what is stored."""
        ...

    def find(self, key: str) -> dict[str, Any] | None: ...


class MemoryLedger:
    """One process's ledger (tests, and a sandbox nobody else asks)."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}

    def record(self, key: str, entry: dict[str, Any]) -> dict[str, Any]:
        return self.entries.setdefault(key, dict(entry))

    def find(self, key: str) -> dict[str, Any] | None:
        return self.entries.get(key)


class DynamoLedger:
    """The deployed sandbox's ledger: a table of its own (CardSandboxTable), standing in for the provider's.

    The table is looked up on first use: the read-only payments routes share this code and have none.
    """

    def __init__(self, client: Any, table_env: str = "CARD_SANDBOX_TABLE_NAME") -> None:
        self.client = client
        self._table_env = table_env

    @functools.cached_property
    def table_name(self) -> str:
        return require_env(self._table_env)

    def record(self, key: str, entry: dict[str, Any]) -> dict[str, Any]:
        item = {**entry, "key": key}
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=serialize(item),
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": "key"},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return self.find(key) or item
        return item

    def find(self, key: str) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.table_name, Key={"key": {"S": key}}, ConsistentRead=True)
        return deserialize(response["Item"]) if "Item" in response else None


class SandboxProcessor:
    """Deterministic outcomes by card (see the contract's sandbox table), kept in a ledger by key.

    `latency` is how long a charge takes to answer (0 by default; a real provider takes a while,
    which is when a cancel can arrive: `make soak` sets CardSandboxLatencyMs to race them).
    """

    def __init__(self, ledger: Ledger | None = None, clock: type[datetime] = datetime, latency: float = 0.0) -> None:
        self._ledger = ledger if ledger is not None else MemoryLedger()
        self._clock = clock
        self._latency = latency

    def outcome(self, card: Card) -> ChargeResult:
        if card.number == DECLINED_CARD:
            return ChargeResult(False, "card_declined")
        if card.number == INSUFFICIENT_FUNDS_CARD:
            return ChargeResult(False, "insufficient_funds")
        if card.expiry.is_past(self._clock.now(UTC)):
            return ChargeResult(False, "expired_card")
        return ChargeResult(True)

    def charge(self, *, idempotency_key: str, amount: Decimal, card: Card) -> ChargeResult:
        if self._latency:
            time.sleep(self._latency)
        result = self.outcome(card)
        entry = {
            "kind": "charge",
            "amount": amount,
            "approved": result.approved,
            "declineReason": result.decline_reason,
            "last4": card.last4,
            **self._stamp(),
        }
        return _charge_result(self._ledger.record(idempotency_key, entry))

    def find_charge(self, *, idempotency_key: str) -> ChargeResult | None:
        entry = self._ledger.find(idempotency_key)
        return _charge_result(entry) if entry is not None and entry.get("kind") == "charge" else None

    def refund(self, *, idempotency_key: str, charge_key: str, amount: Decimal) -> None:
        entry = {"kind": "refund", "charge": charge_key, "amount": amount, **self._stamp()}
        self._ledger.record(idempotency_key, entry)

    def _stamp(self) -> dict[str, Any]:
        """When an entry was made, and when the ledger's TTL may delete it (epoch seconds)."""
        now = self._clock.now(UTC)
        return {"at": now.isoformat(), "expiresAt": int((now + LEDGER_RETENTION).timestamp())}


def _charge_result(entry: dict[str, Any]) -> ChargeResult:
    return ChargeResult(bool(entry["approved"]), entry.get("declineReason"))


def sandbox_processor(dynamodb: Any) -> SandboxProcessor:
    """The sandbox as the template configures it (CARD_SANDBOX_TABLE_NAME, CARD_SANDBOX_LATENCY_MS)."""
    latency = int(os.environ.get("CARD_SANDBOX_LATENCY_MS") or 0) / 1000
    return SandboxProcessor(DynamoLedger(dynamodb), latency=latency)
