"""What the local stack shows after a run: the tables, the card sandbox's ledger and the payments' log lines;
the money invariants checked against the ledger."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loadtest.soak import Order


# What the local stack shows afterwards: payments, the card sandbox's ledger, PaymentsInbox/PayOrder log lines.
Tables = tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]


Inspector = Callable[[], Tables]


# payments.service's log lines are told apart by their structured `step` field, not by their text.


def report_charges(orders: list[Order], tables: Tables) -> list[str]:
    """How many payments passed through processing, and any charge the sandbox's ledger cannot account for."""
    mine = {o.order_id for o in orders if o.order_id}
    payments = [p for p in tables[0] if p["orderId"] in mine]
    claimed = Counter(str(p["status"]) for p in payments if p.get("claimId"))
    now = ", ".join(f"now {k}: {v}" for k, v in sorted(claimed.items()))
    print(f"passed through processing: {sum(claimed.values())} of {len(payments)} payments ({now})")

    steps = Counter(step for line in tables[2] if (step := _step_of(line, mine)))
    met, retried = steps["cancel_meets_charge"], steps["cancel_waits_for_charge"]
    print(f"cancels that found the card being charged: {met} (of those, left to SQS to redeliver: {retried})")
    print(f"claims left by a failed or dead charger, settled by asking the processor: {steps['claim_settled']}")
    unaccounted = charge_violations(payments, tables[1])
    print(f"card charges unaccounted for: {len(unaccounted)}")
    for line in unaccounted[:20]:
        print(f"  {line}")
    return unaccounted


def charge_violations(payments: list[dict[str, Any]], ledger: list[dict[str, Any]]) -> list[str]:
    """The contract's money invariants against the card sandbox's ledger (keys charge/<id>, refund/<id>):
    a card is charged at most once per order (one charge key per order; the ledger stores a key once),
    an approved charge's payment ends paid or refunded (and refunded ones were refunded), a declined
    charge's payment ends declined, and no payment is paid, declined or refunded without its charge."""
    charges = {e["key"].removeprefix("charge/"): e for e in ledger if e.get("kind") == "charge"}
    refunds = {e["key"].removeprefix("refund/") for e in ledger if e.get("kind") == "refund"}
    problems = []
    for p in payments:
        oid, status = p["orderId"], p["status"]
        charge = charges.get(oid)
        if charge is None:
            if status in ("paid", "declined", "refunded"):
                problems.append(f"payment of {oid} is {status} but the card was never charged")
            continue
        if charge["approved"] and status not in ("paid", "refunded"):
            problems.append(f"approved charge of {oid} but the payment is {status}")
        if not charge["approved"] and status != "declined":
            problems.append(f"declined charge of {oid} but the payment is {status}")
        if (status == "refunded") != (oid in refunds):
            problems.append(f"payment of {oid} is {status}; refund at the processor: {oid in refunds}")
    return problems


def _step_of(line: str, orders: set[str]) -> str | None:
    """The `step` of a payments log line about one of `orders` (None for any other line)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or str(record.get("order_id")) not in orders:
        return None
    step = record.get("step")
    return str(step) if step else None


def scan(stack: Any, logical_id: str) -> list[dict[str, Any]]:
    """Every item of a table of the stack, consistently read."""
    from boto3.dynamodb.types import TypeDeserializer

    des = TypeDeserializer()
    pages = (
        stack.client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName=stack.physical_id(logical_id), ConsistentRead=True)
    )
    return [{k: des.deserialize(v) for k, v in item.items()} for page in pages for item in page["Items"]]
