"""Clients that give up: each pays once and, at its first answer that is not a success (a 503, a 409, a 502
from a killed worker, a dropped connection), stops for good: no retry, no cancel. Meanwhile the payments
table's writes fail at random (throttled, 5xx, or a timeout after the write was applied) and pay workers die
mid-invocation. Nobody comes back, yet once the reconciler's schedule has passed every claim's lease, no
payment is left processing and every approved charge ends paid or refunded exactly once."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

from devstack import LocalStack
from loadtest.chaos import ChaosConfig, attach
from payments.domain import CLAIM_LEASE
from tests.resilience.support import check_invariants, log_records, scan, user_api, wait_for

CLIENTS = 16
UNSETTLED = ("processing", "refunding")


def give_up_at_first_error(stack: LocalStack, cancel_after_paying: bool) -> tuple[str | None, str]:
    """One client's whole life: (its order id, how it ended)."""
    api = user_api(stack, "gives-up")
    try:
        created = api.create(bill=25)
        if created.status_code != 201:
            return None, f"create {created.status_code}"
        order_id = str(created.json()["data"]["id"])
        wait_for(lambda: api.payment(order_id).status_code == 200, what="payment opened")
        paid = api.pay(order_id)
        if paid.status_code != 200 or not cancel_after_paying:
            return order_id, f"pay {paid.status_code}"
        return order_id, f"pay 200, cancel {api.cancel(order_id).status_code}"
    except requests.RequestException as exc:  # a dropped connection: the client gives up too
        return None, type(exc).__name__


def test_clients_that_give_up_at_their_first_error_leave_no_charge_unsettled(stack: LocalStack):
    chaos = attach(
        stack,
        ChaosConfig(
            seed=18,
            aws_rate=0.0,
            rates={"dynamodb:UpdateItem": 0.5},
            internal=False,
            kill_rate=0.3,
            kill_functions=("PayOrderFunction",),
            delivery_rate=0.0,
        ),
    )
    chaos.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            ends = list(pool.map(lambda i: give_up_at_first_error(stack, i % 3 == 0), range(CLIENTS)))
    finally:
        chaos.stop()
    assert sum(chaos.counts().values()) > 0, "faults were really injected"
    mine = {order_id for order_id, _ in ends if order_id}
    # Bounded by the lease and a few reconciler periods (RECONCILE_INTERVAL_SECONDS in conftest): the
    # schedule settles what the clients left, nobody else touches it.
    wait_for(
        lambda: not [p for p in scan(stack, "PaymentsTable") if p["orderId"] in mine and p["status"] in UNSETTLED],
        timeout=CLAIM_LEASE.total_seconds() + 60,
        what=f"no payment unsettled (clients ended: {sorted(e for _, e in ends)})",
    )
    stack.inspect.wait_idle(60)
    settled = [r for r in log_records(stack, "ReconcilerFunction") if r.get("order_id") in mine and r.get("outcome")]
    outcomes = Counter(r["outcome"] for r in settled)
    print(f"clients ended: {Counter(e for _, e in ends)}; the reconciler settled: {outcomes}")
    check_invariants(stack)  # every approved charge paid or refunded (refunded once), orders follow payments
