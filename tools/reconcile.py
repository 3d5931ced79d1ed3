"""`make reconcile`: the card processor's ledger against the payments table, over a time window.

The card sandbox keeps what it was asked in its own table (CardSandboxTable: `charge/<orderId>` and
`refund/<orderId>` entries, each with its time `at`), as a real provider keeps its ledger. A mismatch is
money the platform and the processor disagree on:

- an approved charge whose payment is neither `paid` nor `refunded` (a declined one whose payment is not
  `declined`), or that has no payment at all;
- a refund without an approved charge; a payment `refunded` with no refund at the processor, or a
  refund at the processor while the payment still reads `paid`;
- two charges for one order;
- a payment `paid`, `declined` or `refunded` the processor never charged;
- a payment `processing` or `refunding` past the claim lease: nobody is settling it (the reconciler
  should have).

A payment in `processing`/`refunding` within its lease is in flight and is not judged.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# payments.domain.CLAIM_LEASE (tests/moto/test_reconcile_cli.py holds them equal): tools do not import functions.
CLAIM_LEASE = dt.timedelta(seconds=30)
LEDGER_TABLE = "CardSandboxTable"
PAYMENTS_TABLE = "PaymentsTable"
UNSETTLED = ("processing", "refunding")
CHARGED = ("paid", "declined", "refunded")


@dataclass(frozen=True)
class Mismatch:
    order_id: str
    what: str

    def __str__(self) -> str:
        return f"{self.order_id}: {self.what}"


@dataclass
class Window:
    """The ledger entries and payments of a window; `charges`/`payments` count the ones inside it."""

    ledger: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    charges: int = 0

    @property
    def summary(self) -> str:
        return f"{self.charges} charges, {len(self.payments)} payments"


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)


def _order_of(entry: dict[str, Any]) -> str:
    """charge/<orderId>[/...] -> orderId (an entry may also name its order)."""
    return str(entry.get("orderId") or entry["key"].split("/")[1])


def find_mismatches(
    ledger: Iterable[dict[str, Any]], payments: Iterable[dict[str, Any]], now: dt.datetime
) -> list[Mismatch]:
    """Every disagreement between the processor's `ledger` entries and the `payments` items (see above)."""
    charges: dict[str, list[dict[str, Any]]] = defaultdict(list)
    refunds: dict[str, dict[str, Any]] = {}
    for entry in ledger:
        if entry.get("kind") == "charge":
            charges[_order_of(entry)].append(entry)
        elif entry.get("kind") == "refund":
            refunds[_order_of(entry)] = entry
    found: list[Mismatch] = []
    for oid, made in sorted(charges.items()):
        if len(made) > 1:
            found.append(Mismatch(oid, f"{len(made)} charges for one order ({', '.join(e['key'] for e in made)})"))
    for oid, refund in sorted(refunds.items()):
        if not any(e.get("approved") for e in charges.get(oid, [])):
            found.append(Mismatch(oid, f"refund {refund['key']} without an approved charge"))
    by_order = {p["orderId"]: p for p in payments}
    for oid, made in sorted(charges.items()):
        if oid not in by_order:
            found.append(Mismatch(oid, f"{'approved' if made[0].get('approved') else 'declined'} charge, no payment"))
    for oid, payment in sorted(by_order.items()):
        found += _payment_mismatches(payment, charges.get(oid, []), oid in refunds, now)
    return found


def _payment_mismatches(
    payment: dict[str, Any], charges: list[dict[str, Any]], refunded: bool, now: dt.datetime
) -> list[Mismatch]:
    oid, status = payment["orderId"], payment["status"]
    if status in UNSETTLED:
        claimed = payment.get("claimedAt") or payment["updatedAt"]
        stale = now - parse_time(claimed) > CLAIM_LEASE  # else in flight: not judged
        return [Mismatch(oid, f"payment {status} past the lease (claimed at {claimed})")] if stale else []
    what = _settled_mismatch(status, charges, refunded)
    return [Mismatch(oid, what)] if what else []


def _settled_mismatch(status: str, charges: list[dict[str, Any]], refunded: bool) -> str | None:
    if not charges:
        return f"payment {status} but the card was never charged" if status in CHARGED else None
    approved = bool(charges[0].get("approved"))
    if approved != (status in ("paid", "refunded")) or (not approved and status != "declined"):
        return f"{'approved' if approved else 'declined'} charge but the payment is {status}"
    if approved and (status == "refunded") != refunded:
        return f"payment {status}; refund at the processor: {refunded}"
    return None


def read_window(target: Any, since: dt.datetime) -> Window:
    """The ledger and payments of the window starting at `since`, from the target's tables (scans: an operator's
    report, not a request path). Payments still unsettled are read whatever their age (a charge in the window
    may belong to a payment claimed before it); a payment's charge made before the window is read by its key."""
    ddb = target.client("dynamodb")
    # Seconds, no zone: sorts right against both "...+00:00" and "...Z" stamps.
    start = {":since": {"S": since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")}}
    ledger_table = target.table(LEDGER_TABLE)
    ledger = _scan(ddb, ledger_table, "#at >= :since", start, {"#at": "at"})
    charges = sum(1 for e in ledger if e.get("kind") == "charge")
    payments = _scan(
        ddb, target.table(PAYMENTS_TABLE), "updatedAt >= :since OR attribute_exists(unsettledShard)", start, None
    )
    known = {e["key"] for e in ledger}
    for p in payments:
        for key in (f"charge/{p['orderId']}", f"refund/{p['orderId']}"):
            if p["status"] in CHARGED and key not in known:
                item = ddb.get_item(TableName=ledger_table, Key={"key": {"S": key}}, ConsistentRead=True).get("Item")
                if item:
                    ledger.append(_plain(item))
    return Window(ledger=ledger, payments=payments, charges=charges)


def _scan(
    ddb: Any, table: str, condition: str, values: dict[str, Any], names: dict[str, str] | None
) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True, "FilterExpression": condition}
    kwargs["ExpressionAttributeValues"] = values
    if names:
        kwargs["ExpressionAttributeNames"] = names
    return [_plain(item) for page in ddb.get_paginator("scan").paginate(**kwargs) for item in page["Items"]]


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    des = TypeDeserializer()
    return {k: des.deserialize(v) for k, v in item.items()}


def reconcile(target: Any, hours: float, now: dt.datetime | None = None) -> tuple[Window, list[Mismatch]]:
    """The window's figures and every mismatch in it."""
    now = now or dt.datetime.now(dt.UTC)
    window = read_window(target, now - dt.timedelta(hours=hours))
    return window, find_mismatches(window.ledger, window.payments, now)
