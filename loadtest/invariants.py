"""The contract's invariants over a quiet local stack's tables, against what the clients saw.

Read once nothing is in flight (``LocalStack.inspect.wait_idle``): every violation names its order id.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from loadtest.ledger import charge_violations, scan
from loadtest.soak import Order

# order status -> the payment statuses it may sit with once nothing is in flight, and the converse
PAYMENT_FOR_ORDER = {
    "created": {"pending", "voided"},  # only while its events travel: a quiet stack has none
    "confirmed": {"paid"},
    "delivered": {"paid"},
    "declined": {"declined"},
    "cancelled": {"voided", "refunded", "declined"},
}
ORDER_FOR_PAYMENT = {
    "pending": {"created"},
    "paid": {"confirmed", "delivered"},
    "declined": {"declined", "cancelled"},
    "voided": {"cancelled"},
    "refunded": {"cancelled"},
}
ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")
LEDGER_TABLE = "CardSandboxTable"  # the card sandbox's record of charges and refunds, when the template has it


@dataclass(frozen=True)
class Violation:
    order_id: str
    what: str

    def __str__(self) -> str:
        return f"{self.order_id}: {self.what}"


# Plans whose end does not depend on the answers (a 409 to a retried pay: an earlier attempt got through).
FIXED_STATES = {
    "cancel_before_pay": {("cancelled", "voided")},
    "declined": {("declined", "declined")},
    "paid": {("delivered", "paid")},
}


def implied_states(order: Order) -> set[tuple[str, str]]:
    """The (order, payment) states the answers this order's client got allow once everything settled."""
    if order.plan in FIXED_STATES:
        return FIXED_STATES[order.plan]
    cancel, pay = order.answers.get("cancel"), order.answers.get("pay")
    if order.plan == "cancel_racing_decline":  # a 409 to the cancel: the decline came first
        return {("declined", "declined")} if cancel == 409 else {("cancelled", "voided"), ("cancelled", "declined")}
    if cancel == 409:  # the cancel came after the delivery
        return {("delivered", "paid")}
    if order.plan == "cancel_after_pay" or pay == 200:
        return {("cancelled", "refunded")}  # it was paid, then cancelled: refunded
    return {("cancelled", "voided"), ("cancelled", "refunded")}  # racing: cancel before or after the charge


def execution_counts(stack: Any) -> Counter[str]:
    """How many delivery executions list each order (one execution delivers an inbox batch of orders)."""
    sfn = stack.client("stepfunctions")
    runs: Counter[str] = Counter()
    for machine in stack.model.state_machines.values():
        kwargs: dict[str, Any] = {"stateMachineArn": machine.arn, "maxResults": 1000}
        while True:
            resp = sfn.list_executions(**kwargs)
            for execution in resp["executions"]:
                described = sfn.describe_execution(executionArn=execution["executionArn"])
                runs.update(o["orderId"] for o in json.loads(described["input"]).get("orders", []))
            if not resp.get("nextToken"):
                break
            kwargs["nextToken"] = resp["nextToken"]
    return runs


def table_violations(
    orders: list[dict[str, Any]],
    payments: list[dict[str, Any]],
    runs: Counter[str],
    *,
    unpaid: bool = False,
    orphans: bool = False,
) -> Iterable[Violation]:
    """One payment per order, same user and bill, statuses that go together, nothing in flight, a delivery
    execution for every delivered order. ``unpaid``: an order nobody paid or cancelled (created, its payment pending)
        is at rest too; a soak drives every order to its end, so there it is left in flight. ``orphans``: payments
    opened by events published straight to the topic (tests do) need no order."""
    by_order: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in payments:
        by_order[p["orderId"]].append(p)
    order_ids = {o["orderId"] for o in orders}
    for oid in set() if orphans else by_order.keys() - order_ids:
        yield Violation(oid, "a payment without an order")
    for o in orders:
        oid, status = o["orderId"], o["status"]
        pays = by_order.get(oid, [])
        if len(pays) != 1:
            yield Violation(oid, f"order {status} has {len(pays)} payments")
            continue
        p = pays[0]
        if p["userId"] != o["userId"] or p["bill"] != o["bill"]:
            yield Violation(oid, f"payment {p['userId']}/{p['bill']} != order {o['userId']}/{o['bill']}")
        at_rest = unpaid and (status, p["status"]) == ("created", "pending")
        if not at_rest and (status in ("created", "confirmed") or p["status"] in ("pending", "processing")):
            yield Violation(oid, f"left in flight: order {status}, payment {p['status']}")
        elif p["status"] not in PAYMENT_FOR_ORDER.get(status, set()) or status not in ORDER_FOR_PAYMENT.get(
            p["status"], set()
        ):
            yield Violation(oid, f"order {status} but payment {p['status']}")
        # A batch redelivered in another composition may list an order twice: harmless (the condition), so
        # only a delivery no execution made is a violation.
        if status == "delivered" and runs[oid] < 1:
            yield Violation(oid, "delivered without a delivery execution")


def _clients(orders: list[dict[str, Any]], payments: list[dict[str, Any]], driven: list[Order]) -> Iterable[Violation]:
    """Each order the clients placed exists once, in the state their answers imply; no order more."""
    stored = {o["orderId"]: o for o in orders}
    pay_status = {p["orderId"]: p["status"] for p in payments}
    known = {o.order_id for o in driven if o.order_id}
    planned = Counter(o.user for o in driven)
    per_user = Counter(o["userId"] for o in orders if o["userId"] in planned)
    for user, n in per_user.items():
        if n > planned[user]:
            extra = sorted(o["orderId"] for o in orders if o["userId"] == user and o["orderId"] not in known)
            yield Violation(",".join(extra), f"user {user} placed {planned[user]} orders, {n} exist")
    for o in driven:
        if o.failed:
            yield Violation(o.order_id or f"({o.plan} of {o.user})", f"client: {o.failed}")
        if not o.order_id:
            continue
        item = stored.get(o.order_id)
        if item is None:
            yield Violation(o.order_id, "answered 201 but the order does not exist")
            continue
        state = (item["status"], pay_status.get(o.order_id, "missing"))
        if state not in implied_states(o):
            yield Violation(o.order_id, f"{o.plan} answered {o.answers} but ended {state[0]}/{state[1]}")


def _order_id(line: str) -> str:
    found = ULID.search(line)
    return found.group(0) if found else "-"


def check(stack: Any, driven: list[Order]) -> tuple[list[Violation], dict[str, Any]]:
    """Every violation (table pairs, deliveries, charges, the clients' view) and the figures behind them."""
    orders = scan(stack, "OrdersTable")
    payments = scan(stack, "PaymentsTable")
    runs = execution_counts(stack)
    violations = list(table_violations(orders, payments, runs))
    pay_status = {p["orderId"]: p["status"] for p in payments}
    figures: dict[str, Any] = {
        "final states": Counter(f"{o['status']}/{pay_status.get(o['orderId'], 'missing')}" for o in orders)
    }
    if LEDGER_TABLE in stack.model.tables:
        ledger = scan(stack, LEDGER_TABLE)
        violations += [Violation(_order_id(line), line) for line in charge_violations(payments, ledger)]
        figures["charges"] = Counter(
            "refund" if e.get("kind") != "charge" else "charge " + ("approved" if e.get("approved") else "declined")
            for e in ledger
        )
    else:
        figures["charges"] = "not observable: the template has no card sandbox ledger"
    violations += _clients(orders, payments, driven)
    return violations, figures
