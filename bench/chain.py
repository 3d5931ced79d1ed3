"""Event chain latency: order created -> payment visible; pay -> order confirmed (read from the tables)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import requests

from bench.common import Config, Figure, median, percentile, progress
from bench.stackctx import Ctx, wait_until

SECTION = "4. event chain latency"
USER = "bench-chain"


def _epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def run(cfg: Config, ctx: Ctx, details: dict[str, Any]) -> list[Figure]:
    n = cfg.n(50, 5)
    s = requests.Session()
    ctx.stack.inspect.wait_idle(60)
    first = len(ctx.stack.invocations)
    to_payment: list[float] = []
    to_confirmed: list[float] = []
    progress(
        f"chain: {n} orders, created -> payment pending -> pay -> order confirmed "
        "(tables polled every 2 ms, timed from the items' own timestamps)"
    )
    for _ in range(n):
        r = s.post(f"{ctx.base}/orders", json={"bill": 12.5}, headers=ctx.headers(USER), timeout=30)
        r.raise_for_status()
        order = r.json()["data"]
        oid = order["id"]
        # From the write's own timestamp (same clock), so the API's response time is not part of the chain.
        t0 = _epoch(order["createdAt"])
        wait_until(lambda oid=oid: ctx.item(ctx.payments_table, USER, oid) is not None)  # type: ignore[misc]
        to_payment.append((time.time() - t0) * 1000)
        r = ctx.pay(s, USER, oid)
        r.raise_for_status()
        t2 = _epoch(r.json()["data"]["updatedAt"])
        wait_until(lambda oid=oid: ctx.status(ctx.orders_table, USER, oid) in ("confirmed", "delivered"))  # type: ignore[misc]
        to_confirmed.append((time.time() - t2) * 1000)
    ctx.stack.inspect.wait_idle(60)
    inv = ctx.stack.invocations[first:]

    def compute(*functions: str) -> float:
        return sum(
            median(i.duration_ms for i in inv if i.function == f and not i.trigger.startswith("http"))
            for f in functions
        )

    created_floor = compute("OrdersPublisherFunction", "PaymentsInboxFunction")
    paid_floor = compute("PaymentsPublisherFunction", "OrdersInboxFunction")
    figures = []
    for p in (50, 95):
        figures.append(
            Figure(
                SECTION,
                f"order created -> payment visible p{p}",
                percentile(to_payment, p),
                "ms",
                "compute: OrdersPublisher + PaymentsInbox median durations",
                created_floor,
                f"n={n}",
            )
        )
    for p in (50, 95):
        figures.append(
            Figure(
                SECTION,
                f"pay -> order confirmed p{p}",
                percentile(to_confirmed, p),
                "ms",
                "compute: PaymentsPublisher + OrdersInbox median durations",
                paid_floor,
                f"n={n}",
            )
        )
    details["chain_ms"] = {"created_to_payment": to_payment, "pay_to_confirmed": to_confirmed}
    return figures
