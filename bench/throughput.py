"""Throughput with 1, 8 and 32 concurrent clients (threads, one requests.Session each)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from bench.common import Config, Figure, progress
from bench.stackctx import Ctx

SECTION = "3. throughput (closed loop, N clients)"
USER = "bench-throughput"


def drive(clients: int, seconds: float, request: Callable[[requests.Session], requests.Response]) -> tuple[int, int]:
    """Every client sends back-to-back requests for ``seconds``; returns (successes, errors)."""
    ok = [0] * clients
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(i: int) -> None:
        s = requests.Session()
        start.wait()
        while time.perf_counter() < stop_at[0]:
            try:
                r = request(s)
                if r.status_code < 300:
                    ok[i] += 1
                else:
                    errors[i] += 1
            except requests.RequestException:
                errors[i] += 1

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    start.wait()
    for t in threads:
        t.join(seconds + 60)
    return sum(ok), sum(errors)


def direct_get(ctx: Ctx, oid: str, seconds: float) -> float:
    ddb = ctx.stack.client("dynamodb")
    key = {"userId": {"S": USER}, "orderId": {"S": oid}}
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        ddb.get_item(TableName=ctx.orders_table, Key=key)
        n += 1
    return n / (time.perf_counter() - t0)


def run(cfg: Config, ctx: Ctx, details: dict[str, Any]) -> list[Figure]:
    seconds = 1.5 if cfg.quick else 4.0
    s = requests.Session()
    oid = ctx.create_order(s, USER)
    h = ctx.headers(USER)
    base = ctx.base
    ctx.stack.inspect.wait_idle(60)
    floor_rps = direct_get(ctx, oid, seconds / 2)
    routes: list[tuple[str, Callable[[requests.Session], requests.Response]]] = [
        ("GET /orders/{id}", lambda sess: sess.get(f"{base}/orders/{oid}", headers=h, timeout=30)),
        ("POST /orders", lambda sess: sess.post(f"{base}/orders", json={"bill": 9.99}, headers=h, timeout=30)),
    ]
    figures: list[Figure] = []
    for route, request in routes:
        one = 0.0
        for clients in (1, 8, 32):
            progress(f"throughput: {route} with {clients} clients for {seconds:.1f} s")
            t0 = time.perf_counter()
            ok, errors = drive(clients, seconds, request)
            rps = ok / (time.perf_counter() - t0)
            if clients == 1:
                one = rps
                figures.append(
                    Figure(SECTION, f"{route} 1 client", rps, "req/s", "DynamoDB GetItem direct, 1 client", floor_rps)
                )
            else:
                figures.append(Figure(SECTION, f"{route} {clients} clients", rps, "req/s", f"{route} 1 client", one))
            figures.append(Figure(SECTION, f"{route} {clients} clients errors", errors, "count", "must be", 0))
            details.setdefault("throughput", []).append(
                {"route": route, "clients": clients, "ok": ok, "errors": errors}
            )
            if errors:
                progress(f"throughput: {route} with {clients} clients: {errors} ERRORS")
        if route.startswith("POST"):
            progress("throughput: waiting for the event chain to drain the created orders")
            ctx.stack.inspect.wait_idle(300)
    return figures
