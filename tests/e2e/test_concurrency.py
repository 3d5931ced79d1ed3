"""Requests racing each other: an order is never charged twice, an idempotent create is one order."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Api
from tests.e2e.support import DECLINED_CARD, GOOD_CARD, Client, eventually, pay_body

pytestmark = pytest.mark.e2e

THREADS = 10


def at_once(fn: Callable[[requests.Session], requests.Response], n: int = THREADS) -> list[requests.Response]:
    """Run ``fn`` in ``n`` threads released together, each with its own connection."""
    barrier = threading.Barrier(n)

    def run() -> requests.Response:
        with requests.Session() as session:
            barrier.wait(timeout=30)
            return fn(session)

    with ThreadPoolExecutor(max_workers=n) as ex:
        futures = [ex.submit(run) for _ in range(n)]
        return [f.result() for f in futures]


def test_ten_concurrent_pays_charge_once(alice: Client) -> None:
    order = alice.order_with_pending_payment()
    path = f"/payments/pay/{order['id']}"

    results = at_once(lambda s: alice.on(s).post(path, pay_body(GOOD_CARD)))

    statuses = Counter(r.status_code for r in results)
    assert statuses == {200: 1, 409: THREADS - 1}, [(r.status_code, r.text[:200]) for r in results]
    winner = next(r for r in results if r.status_code == 200).json()["data"]
    assert winner["status"] == "paid"
    payment = alice.payment(order["id"])
    assert payment["status"] == "paid"
    assert payment["updatedAt"] == winner["updatedAt"]
    # Delivery follows after DELIVERY_DELAY_SECONDS; on a loaded machine it can come before the first look.
    alice.wait_order(order["id"], {"confirmed", "delivered"})


def test_concurrent_pays_with_one_idempotency_key_charge_once(alice: Client) -> None:
    order = alice.order_with_pending_payment()
    path = f"/payments/pay/{order['id']}"
    key = {"Idempotency-Key": f"pay-{uuid.uuid4()}"}

    results = at_once(lambda s: alice.on(s).post(path, pay_body(), headers=key))

    statuses = Counter(r.status_code for r in results)
    assert set(statuses) <= {200, 409}, [(r.status_code, r.text[:200]) for r in results]
    assert statuses[200] >= 1
    assert len({r.text for r in results if r.status_code == 200}) == 1
    assert alice.payment(order["id"])["status"] == "paid"


def test_concurrent_creates_with_one_idempotency_key_make_one_order(fresh: Client) -> None:
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}

    results = at_once(lambda s: fresh.on(s).post("/orders", {"bill": 9.99}, headers=key))

    statuses = Counter(r.status_code for r in results)
    assert set(statuses) <= {201, 409}, [(r.status_code, r.text[:200]) for r in results]
    assert statuses[201] >= 1
    ids = {r.json()["data"]["id"] for r in results if r.status_code == 201}
    assert len(ids) == 1
    assert [o["id"] for o in fresh.all_items("orders")] == list(ids)


def test_concurrent_cancels_all_succeed_once(alice: Client) -> None:
    order = alice.order_with_pending_payment()
    path = f"/orders/{order['id']}"

    results = at_once(lambda s: alice.on(s).delete(path))

    assert {r.status_code for r in results} == {200}, [(r.status_code, r.text[:200]) for r in results]
    assert {r.json()["data"]["status"] for r in results} == {"cancelled"}
    alice.wait_payment(order["id"], "voided")


@pytest.mark.parametrize("card", [GOOD_CARD, DECLINED_CARD], ids=["paid", "declined"])
def test_pay_and_cancel_at_once_settle_consistently(api: Api, fresh: Client, card: dict[str, Any]) -> None:
    orders = [fresh.order_with_pending_payment(bill)["id"] for bill in range(1, 6)]
    barrier = threading.Barrier(2 * len(orders))

    def race(method: str, order_id: str) -> requests.Response:
        with requests.Session() as session:
            barrier.wait(timeout=30)
            if method == "DELETE":
                return fresh.on(session).delete(f"/orders/{order_id}")
            return fresh.on(session).post(f"/payments/pay/{order_id}", pay_body(card))

    with ThreadPoolExecutor(max_workers=2 * len(orders)) as ex:
        jobs = {(m, oid): ex.submit(race, m, oid) for oid in orders for m in ("DELETE", "POST")}
        results = {k: f.result() for k, f in jobs.items()}

    for (method, oid), r in results.items():
        allowed = {200, 409} if method == "DELETE" else {200, 402, 409}
        assert r.status_code in allowed, (method, oid, r.status_code, r.text[:300])

    def final() -> list[tuple[str, str, str]]:
        return [(oid, fresh.order(oid)["status"], fresh.payment(oid)["status"]) for oid in orders]

    def settled(rows: list[tuple[str, str, str]]) -> bool:
        # pending, processing and refunding are all still in flight: the cancel's refund lands shortly after.
        in_flight = ("pending", "processing", "refunding")
        return all(p not in in_flight and o != "created" for _, o, p in rows) and all(
            not (o == "cancelled" and p == "paid") and not (o in ("confirmed", "delivered") and p != "paid")
            for _, o, p in rows
        )

    rows = eventually(final, settled, timeout=api.delivery_delay + 30, what="orders and payments settled")
    for oid, order_status, payment_status in rows:
        cancel = results[("DELETE", oid)]
        if cancel.status_code == 200:
            assert order_status == "cancelled", (oid, order_status, payment_status)
            assert payment_status in ("voided", "refunded", "declined"), (oid, order_status, payment_status)
        elif order_status == "declined":
            assert payment_status == "declined", (oid, order_status, payment_status)
        else:
            assert (order_status, payment_status) in (("confirmed", "paid"), ("delivered", "paid")), (oid, rows)
