"""``python -m devstack soak``: drive many orders through their whole lifecycle, then check nothing was lost.

Starts a local stack (unless ``--url`` points at a running one), runs ``--orders`` orders with ``--clients``
concurrent clients mixing paid, declined and cancelled (before and after paying) orders, waits until every
order has settled, and prints requests, errors by status, orders by final state, and lost or inconsistent
orders. Exits non-zero if any order is lost or inconsistent or any request was answered 5xx.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from devstack.tokens import mint_token

GOOD = "4242 4242 4242 4242"
DECLINED = "4000000000000002"
# plan -> the (order status, payment status) it must end in
PLANS: dict[str, set[tuple[str, str]]] = {
    "paid": {("delivered", "paid")},
    "declined": {("declined", "declined")},
    "cancel_before_pay": {("cancelled", "voided")},
    "cancel_after_pay": {("cancelled", "refunded"), ("delivered", "paid")},  # delivery may win the race
}
FINAL_ORDER = {"delivered", "declined", "cancelled"}


@dataclass
class Stats:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, status: int, what: str) -> None:
        with self.lock:
            self.requests += 1
            self.statuses[status] += 1
            if status >= 500 or status in (0, 429):
                self.errors[f"{status} {what}"] += 1


@dataclass
class Order:
    plan: str
    user: str
    order_id: str = ""
    failed: str = ""
    final: tuple[str, str] = ("", "")


class Client:
    def __init__(self, base_url: str, token: str, stats: Stats) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.stats = stats

    def call(self, method: str, path: str, what: str, **kwargs: Any) -> requests.Response | None:
        for attempt in range(8):
            try:
                resp = self.session.request(method, self.base_url + path, timeout=30, **kwargs)
            except requests.RequestException:
                self.stats.note(0, what)
                time.sleep(0.2 * (attempt + 1))
                continue
            self.stats.note(resp.status_code, what)
            if resp.status_code in (429, 503):  # documented: retry after Retry-After
                time.sleep(float(resp.headers.get("Retry-After", "1")))
                continue
            return resp
        return None


def _poll(fn: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return True
        time.sleep(0.1)
    return False


def run_order(client: Client, order: Order, settle_timeout: float) -> None:
    idem = uuid.uuid4().hex
    resp = client.call("POST", "/orders", "create", json={"bill": 10}, headers={"Idempotency-Key": idem})
    if resp is None or resp.status_code != 201:
        order.failed = f"create answered {resp.status_code if resp is not None else 'nothing'}"
        return
    order.order_id = resp.json()["data"]["id"]
    oid = order.order_id

    def payment_open() -> bool:
        r = client.call("GET", f"/payments/{oid}", "get payment")
        return r is not None and r.status_code == 200

    if order.plan == "cancel_before_pay":
        r = client.call("DELETE", f"/orders/{oid}", "cancel")
        if r is None or r.status_code != 200:
            order.failed = f"cancel answered {r.status_code if r is not None else 'nothing'}"
        return
    if not _poll(payment_open, settle_timeout):
        order.failed = "payment never opened"
        return
    card = DECLINED if order.plan == "declined" else GOOD
    body = {"creditCardDetails": {"number": card, "cvt": 123, "expiry": "12/30"}}
    r = client.call("POST", f"/payments/pay/{oid}", "pay", json=body, headers={"Idempotency-Key": idem + "-pay"})
    expected = 402 if order.plan == "declined" else 200
    if r is None or r.status_code != expected:
        order.failed = f"pay answered {r.status_code if r is not None else 'nothing'}"
        return
    if order.plan == "cancel_after_pay":
        r = client.call("DELETE", f"/orders/{oid}", "cancel")
        if r is None or r.status_code not in (200, 409):  # 409: already delivered
            order.failed = f"cancel answered {r.status_code if r is not None else 'nothing'}"


def settle(client: Client, order: Order, timeout: float) -> None:
    """Wait (bounded) until the order and its payment reached a final state, and record it."""
    oid = order.order_id
    state: dict[str, str] = {}

    def final() -> bool:
        o = client.call("GET", f"/orders/{oid}", "get order")
        p = client.call("GET", f"/payments/{oid}", "get payment")
        if o is None or p is None or o.status_code != 200 or p.status_code != 200:
            return False
        state["order"], state["payment"] = o.json()["data"]["status"], p.json()["data"]["status"]
        return state["order"] in FINAL_ORDER and state["payment"] != "pending"

    _poll(final, timeout)
    order.final = (state.get("order", "missing"), state.get("payment", "missing"))


def soak(base_url: str, token_for: Callable[[str], str], n_orders: int, clients: int, settle_timeout: float) -> int:
    stats = Stats()
    rng = random.Random(20261125)  # the same mix every run
    users = [f"soak-{uuid.uuid4().hex[:6]}-{i}" for i in range(clients)]
    orders = [Order(rng.choice(list(PLANS)), users[i % clients]) for i in range(n_orders)]
    local = threading.local()

    def client_for(user: str) -> Client:
        cache = getattr(local, "clients", None)
        if cache is None:
            cache = local.clients = {}
        if user not in cache:
            cache[user] = Client(base_url, token_for(user), stats)
        return cache[user]

    done = Counter[str]()
    stop = threading.Event()
    t0 = time.monotonic()

    def progress() -> None:
        while not stop.wait(3):
            print(
                f"  {time.monotonic() - t0:6.1f}s  driven {done['driven']}/{n_orders}  settled {done['settled']}  "
                f"requests {stats.requests}  5xx {sum(v for k, v in stats.statuses.items() if k >= 500)}",
                flush=True,
            )

    reporter = threading.Thread(target=progress, daemon=True)
    reporter.start()

    def drive(o: Order) -> None:
        run_order(client_for(o.user), o, settle_timeout)
        done["driven"] += 1

    def check(o: Order) -> None:
        if o.order_id and not o.failed:
            settle(client_for(o.user), o, settle_timeout)
        done["settled"] += 1

    try:
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(drive, orders))
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(check, orders))
    finally:
        stop.set()
    elapsed = time.monotonic() - t0

    lost = [o for o in orders if o.failed or "missing" in o.final]
    inconsistent = [o for o in orders if o not in lost and o.final not in PLANS[o.plan]]
    server_errors = sum(v for k, v in stats.statuses.items() if k >= 500)
    print(f"\nsoak: {n_orders} orders, {clients} clients, {elapsed:.1f}s")
    print(f"requests: {stats.requests}  ({stats.requests / elapsed:.0f}/s)")
    print("responses by status: " + ", ".join(f"{k}: {v}" for k, v in sorted(stats.statuses.items())))
    print("errors: " + (", ".join(f"{k}: {v}" for k, v in sorted(stats.errors.items())) or "none"))
    print("orders by plan: " + ", ".join(f"{k}: {v}" for k, v in sorted(Counter(o.plan for o in orders).items())))
    finals = Counter(f"{o.final[0]}/{o.final[1]}" for o in orders if o not in lost)
    print("orders by final state (order/payment): " + ", ".join(f"{k}: {v}" for k, v in sorted(finals.items())))
    print(f"lost: {len(lost)}  inconsistent: {len(inconsistent)}  5xx: {server_errors}")
    for o in (lost + inconsistent)[:20]:
        print(f"  {o.plan} {o.user} {o.order_id or '-'}: {o.failed or o.final}")
    return 1 if lost or inconsistent or server_errors else 0


def main(args: argparse.Namespace) -> int:
    if args.url:
        return soak(args.url.rstrip("/"), mint_token, args.orders, args.clients, args.timeout)
    from devstack.stack import LocalStack

    overrides = {"DeliveryDelaySeconds": str(args.delivery_delay)}
    with LocalStack(args.template, port=0, parameter_overrides=overrides, echo=lambda line: None, watch=False) as stack:
        print(f"local stack: {stack.base_url}", flush=True)
        code = soak(stack.base_url, stack.token, args.orders, args.clients, args.timeout)
        try:
            stack.wait_idle(60)
        except TimeoutError as exc:
            print(f"not quiescent: {exc}")
            return 1
        return code


def add_parser(sub: Any) -> None:
    p = sub.add_parser("soak", help="drive many orders through the local stack and check none is lost")
    p.add_argument("--orders", type=int, default=2000)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--url", default="", help="base URL of a running stack (default: start a local one)")
    p.add_argument("--template", default="template.yaml")
    p.add_argument("--delivery-delay", type=int, default=1, help="DeliveryDelaySeconds of the started stack")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds an order may take to settle")
    p.set_defaults(func=main)
