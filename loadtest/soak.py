"""``python -m devstack soak``: drive many orders through their whole lifecycle, then check nothing was lost.

Starts a local stack (unless ``--url`` points at a running one), runs ``--orders`` orders with ``--clients``
concurrent clients mixing paid, declined and cancelled (before, while and after paying) orders, waits until
every order has settled, and prints requests, errors by status, orders by final state, and lost or
inconsistent orders. The stack it starts has a card sandbox that takes ``--charge-latency`` ms to answer, so
cancels really race charges; it then reads the tables and the sandbox's ledger: how many payments passed
through ``processing``, and whether every card was charged at most once and every approved charge of a
payment that did not end ``paid`` was refunded. Exits non-zero if any order is lost or inconsistent, any
charge is unaccounted for, or any request was answered 5xx. ``loadtest.chaos_soak`` drives the same mix
while faults are injected.

Clients behave as real ones do: a connection error, ``429``, ``502``, ``503`` or ``504`` is retried (the
same request, the same ``Idempotency-Key``) after ``Retry-After`` or an exponential back-off with jitter,
at most ``MAX_ATTEMPTS`` times; so is a ``409`` with ``Retry-After`` (the key's first request still open).
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
from loadtest.ledger import Inspector, Tables, report_charges, scan

GOOD = "4242 4242 4242 4242"


DECLINED = "4000000000000002"


# plan -> the (order status, payment status) it must end in
PLANS: dict[str, set[tuple[str, str]]] = {
    "paid": {("delivered", "paid")},
    "declined": {("declined", "declined")},
    "cancel_before_pay": {("cancelled", "voided")},
    "cancel_after_pay": {("cancelled", "refunded"), ("delivered", "paid")},  # delivery may win the race
    # pay and cancel sent at once: the cancel may come first, during the charge, or after it
    "cancel_racing_pay": {("cancelled", "voided"), ("cancelled", "refunded"), ("delivered", "paid")},
    "cancel_racing_decline": {("cancelled", "voided"), ("cancelled", "declined"), ("declined", "declined")},
}


FINAL_ORDER = {"delivered", "declined", "cancelled"}


# The contract's invariants once nothing is in flight: the payment statuses an order status allows.
PAYMENT_FOR_ORDER = {
    "delivered": {"paid"},
    "declined": {"declined"},
    "cancelled": {"voided", "refunded", "declined"},
}


RETRIED_STATUSES = frozenset({429, 502, 503, 504})


MAX_ATTEMPTS = 12


MAX_BACKOFF = 2.0


@dataclass
class Stats:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, status: int, what: str) -> None:
        with self.lock:
            self.requests += 1
            self.statuses[status] += 1
            if status >= 500 or status in (0, 429):
                self.errors[f"{status} {what}"] += 1

    def retried(self, why: str) -> None:
        with self.lock:
            self.retries[why] += 1


@dataclass
class Order:
    plan: str
    user: str
    order_id: str = ""
    failed: str = ""
    final: tuple[str, str] = ("", "")
    cancel_status: int = 0
    answers: dict[str, int] = field(default_factory=dict)  # the last answer per step (0: none came)

    def answered(self, step: str, resp: requests.Response | None) -> int:
        self.answers[step] = resp.status_code if resp is not None else 0
        return self.answers[step]


class Client:
    def __init__(self, base_url: str, token: str, stats: Stats) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.stats = stats

    def call(self, method: str, path: str, what: str, **kwargs: Any) -> requests.Response | None:
        """The answer, or None when every attempt failed (connection error or a retried status)."""
        for attempt in range(MAX_ATTEMPTS):
            backoff = random.uniform(0.5, 1.0) * min(MAX_BACKOFF, 0.1 * 2**attempt)
            try:
                resp = self.session.request(method, self.base_url + path, timeout=30, **kwargs)
            except requests.RequestException:
                self.stats.note(0, what)
                self.stats.retried(f"{what}: connection error")
                time.sleep(backoff)
                continue
            self.stats.note(resp.status_code, what)
            retry_after = resp.headers.get("Retry-After")
            in_progress = resp.status_code == 409 and retry_after is not None  # the same key, still open
            if resp.status_code in RETRIED_STATUSES or in_progress:
                self.stats.retried(f"{what}: {resp.status_code}")
                wait = float(retry_after) if retry_after and retry_after.isdigit() else 0.0
                time.sleep(max(wait, backoff))
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
    if order.answered("create", resp) != 201 or resp is None:
        order.failed = f"create answered {order.answers['create'] or 'nothing'}"
        return
    order.order_id = resp.json()["data"]["id"]
    oid = order.order_id

    def payment_open() -> bool:
        r = client.call("GET", f"/payments/{oid}", "get payment")
        return r is not None and r.status_code == 200

    if order.plan == "cancel_before_pay":
        r = client.call("DELETE", f"/orders/{oid}", "cancel")
        if order.answered("cancel", r) != 200:
            order.failed = f"cancel answered {order.answers['cancel'] or 'nothing'}"
        return
    if not _poll(payment_open, settle_timeout):
        order.failed = "payment never opened"
        return
    card = DECLINED if order.plan in ("declined", "cancel_racing_decline") else GOOD
    body = {"creditCardDetails": {"number": card, "cvt": 123, "expiry": "12/30"}}
    if order.plan.startswith("cancel_racing"):
        race_pay_and_cancel(client, order, body, idem)
        return
    r = pay_until_settled(client, oid, body, idem + "-pay", settle_timeout)
    # 409 only after a retry: an earlier attempt of this request got through (the final state tells)
    expected = (402 if order.plan == "declined" else 200, 409)
    if order.answered("pay", r) not in expected:
        order.failed = f"pay answered {order.answers['pay'] or 'nothing'}"
        return
    if order.plan == "cancel_after_pay":
        r = client.call("DELETE", f"/orders/{oid}", "cancel")
        if order.answered("cancel", r) not in (200, 409):  # 409: already delivered
            order.failed = f"cancel answered {order.answers['cancel'] or 'nothing'}"


def pay_until_settled(
    client: Client, oid: str, body: dict[str, Any], key: str, timeout: float
) -> requests.Response | None:
    """Pay; a 409 while the payment is still ``processing`` (an earlier attempt of this request died
    while charging) is sent again, with the same key, until the claim's lease lets it settle the charge."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.call("POST", f"/payments/pay/{oid}", "pay", json=body, headers={"Idempotency-Key": key})
        if r is None or r.status_code != 409 or time.monotonic() > deadline:
            return r
        p = client.call("GET", f"/payments/{oid}", "get payment")
        if p is None or p.status_code != 200 or p.json()["data"]["status"] != "processing":
            return r
        client.stats.retried("pay: 409 processing")
        time.sleep(2.0)


def race_pay_and_cancel(client: Client, order: Order, body: dict[str, Any], idem: str) -> None:
    """Pay and cancel at once. Any of pay's answers may be right (paid, declined, or 409 when the cancel
    won); a cancel answers 200, or 409 when the order was declined or delivered first."""
    oid = order.order_id
    with ThreadPoolExecutor(2) as pair:
        paid = pair.submit(
            client.call, "POST", f"/payments/pay/{oid}", "pay", json=body, headers={"Idempotency-Key": idem + "-pay"}
        )
        cancelled = pair.submit(client.call, "DELETE", f"/orders/{oid}", "cancel")
        p, c = paid.result(), cancelled.result()
    order.answered("pay", p)
    order.answered("cancel", c)
    if p is None or p.status_code not in (200, 402, 409):
        order.failed = f"racing pay answered {p.status_code if p is not None else 'nothing'}"
    elif c is None or c.status_code not in (200, 409):
        order.failed = f"racing cancel answered {c.status_code if c is not None else 'nothing'}"
    else:
        order.cancel_status = c.status_code


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
        # A cancelled order's payment may be paid for a moment (its refund waits for the charge to settle).
        return state["payment"] in PAYMENT_FOR_ORDER.get(state["order"], set())

    _poll(final, timeout)
    order.final = (state.get("order", "missing"), state.get("payment", "missing"))


@dataclass(frozen=True)
class Run:
    """What a soak drives: the API at ``base_url`` with each user's token from ``token_for``, ``orders`` orders
    by ``clients`` concurrent clients, each order given ``settle_timeout`` seconds to settle."""

    base_url: str
    token_for: Callable[[str], str]
    orders: int
    clients: int
    settle_timeout: float


def soak(run: Run, *, inspect: Inspector | None = None) -> int:
    """Drive the orders; `inspect` (local stack only) returns (payments, card sandbox ledger) afterwards."""
    orders, stats, elapsed = drive(run)
    return report(orders, stats, run.clients, elapsed, inspect)


def drive(run: Run, *, settle_each: bool = True) -> tuple[list[Order], Stats, float]:
    """Run the mix; with ``settle_each``, then wait (through the API) until every order settled."""
    stats = Stats()
    rng = random.Random(20261125)  # the same mix every run
    users = [f"soak-{uuid.uuid4().hex[:6]}-{i}" for i in range(run.clients)]
    orders = [Order(rng.choice(list(PLANS)), users[i % run.clients]) for i in range(run.orders)]
    local = threading.local()

    def client_for(user: str) -> Client:
        cache = getattr(local, "clients", None)
        if cache is None:
            cache = local.clients = {}
        if user not in cache:
            cache[user] = Client(run.base_url, run.token_for(user), stats)
        return cache[user]

    done = Counter[str]()
    stop = threading.Event()
    t0 = time.monotonic()

    def progress() -> None:
        while not stop.wait(3):
            print(
                f"  {time.monotonic() - t0:6.1f}s  driven {done['driven']}/{run.orders}  settled {done['settled']}  "
                f"requests {stats.requests}  5xx {sum(v for k, v in stats.statuses.items() if k >= 500)}",
                flush=True,
            )

    reporter = threading.Thread(target=progress, daemon=True)
    reporter.start()

    def drive_one(o: Order) -> None:
        run_order(client_for(o.user), o, run.settle_timeout)
        done["driven"] += 1

    def check(o: Order) -> None:
        if o.order_id and not o.failed:
            settle(client_for(o.user), o, run.settle_timeout)
        done["settled"] += 1

    try:
        with ThreadPoolExecutor(run.clients) as pool:
            list(pool.map(drive_one, orders))
        if settle_each:
            with ThreadPoolExecutor(run.clients) as pool:
                list(pool.map(check, orders))
    finally:
        stop.set()
    return orders, stats, time.monotonic() - t0


def print_traffic(title: str, orders: list[Order], stats: Stats, elapsed: float) -> None:
    print(f"\n{title}: {len(orders)} orders, {elapsed:.1f}s")
    print(f"requests: {stats.requests}  ({stats.requests / elapsed:.0f}/s)")
    print("responses by status: " + ", ".join(f"{k}: {v}" for k, v in sorted(stats.statuses.items())))
    print("errors: " + (", ".join(f"{k}: {v}" for k, v in sorted(stats.errors.items())) or "none"))
    retries = ", ".join(f"{k}: {v}" for k, v in sorted(stats.retries.items()))
    print(f"client retries: {sum(stats.retries.values())}" + (f" ({retries})" if retries else ""))
    print("orders by plan: " + ", ".join(f"{k}: {v}" for k, v in sorted(Counter(o.plan for o in orders).items())))


def report(orders: list[Order], stats: Stats, clients: int, elapsed: float, inspect: Inspector | None) -> int:
    """Print the figures; non-zero when anything was lost, inconsistent, unaccounted for or 5xx."""
    lost = [o for o in orders if o.failed or "missing" in o.final]
    inconsistent = [o for o in orders if o not in lost and not consistent(o)]
    server_errors = sum(v for k, v in stats.statuses.items() if k >= 500)
    print_traffic(f"soak ({clients} clients)", orders, stats, elapsed)
    finals = Counter(f"{o.final[0]}/{o.final[1]}" for o in orders if o not in lost)
    print("orders by final state (order/payment): " + ", ".join(f"{k}: {v}" for k, v in sorted(finals.items())))
    unaccounted = report_charges(orders, inspect()) if inspect is not None else []
    print(f"lost: {len(lost)}  inconsistent: {len(inconsistent)}  5xx: {server_errors}")
    for o in (lost + inconsistent)[:20]:
        print(f"  {o.plan} {o.user} {o.order_id or '-'}: {o.failed or o.final}")
    return 1 if lost or inconsistent or server_errors or unaccounted else 0


def consistent(order: Order) -> bool:
    if order.final not in PLANS[order.plan]:
        return False
    # A cancel that was answered 200 cancelled the order, whatever the payment did meanwhile.
    return not (order.cancel_status == 200 and order.final[0] != "cancelled")


def main(args: argparse.Namespace) -> int:
    if args.url:
        return soak(Run(args.url.rstrip("/"), mint_token, args.orders, args.clients, args.timeout))
    from devstack.stack import LocalStack, StackOptions

    overrides = {"DeliveryDelaySeconds": str(args.delivery_delay), "CardSandboxLatencyMs": str(args.charge_latency)}
    with LocalStack(
        args.template, StackOptions(port=0, parameter_overrides=overrides, echo=lambda line: None, watch=False)
    ) as stack:
        print(f"local stack: {stack.base_url}", flush=True)

        def inspect() -> Tables:
            stack.inspect.wait_idle(args.timeout)
            logs = []  # the whole files: memory keeps the last lines only
            for function in ("PaymentsInboxFunction", "PayOrderFunction"):
                log = stack.logs_dir / f"{function}.log"
                logs += log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
            return scan(stack, "PaymentsTable"), scan(stack, "CardSandboxTable"), logs

        try:
            return soak(Run(stack.base_url, stack.token, args.orders, args.clients, args.timeout), inspect=inspect)
        except TimeoutError as exc:
            print(f"not quiescent: {exc}")
            return 1


def add_parser(sub: Any) -> None:
    p = sub.add_parser("soak", help="drive many orders through the local stack and check none is lost")
    p.add_argument("--orders", type=int, default=2000)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--url", default="", help="base URL of a running stack (default: start a local one)")
    p.add_argument("--template", default="template.yaml")
    p.add_argument("--delivery-delay", type=int, default=1, help="DeliveryDelaySeconds of the started stack")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds an order may take to settle")
    p.add_argument(
        "--charge-latency", type=int, default=600, help="CardSandboxLatencyMs of the started stack (cancels race it)"
    )
    p.set_defaults(func=main)
