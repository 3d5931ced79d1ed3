"""GET /orders for a user with 10 orders and with 10,000 (seeded straight into OrdersTable)."""

from __future__ import annotations

import time
from typing import Any

import requests

from bench.common import Config, Figure, percentile, progress
from bench.stackctx import Ctx, order_item

SECTION = "5. scale: GET /orders page of 20"
SMALL_USER = "bench-scale-10"
BIG_USER = "bench-scale-10000"


def seed(ctx: Ctx, user: str, count: int) -> None:
    """batch_write_item in 25s. Statuses confirmed/declined: their INSERT publishes no event, so the outbox
    does not fan 10,000 events out (a created order would start 10,000 payments)."""
    ddb = ctx.ddb_internal
    items = [
        order_item(user, status="confirmed" if i % 5 else "declined", bill=f"{10 + i % 90}.5") for i in range(count)
    ]
    for i in range(0, len(items), 25):
        batch = {ctx.orders_table: [{"PutRequest": {"Item": it}} for it in items[i : i + 25]]}
        while batch:
            batch = ddb.batch_write_item(RequestItems=batch).get("UnprocessedItems") or {}


def run(cfg: Config, ctx: Ctx, details: dict[str, Any]) -> list[Figure]:
    big = cfg.n(10_000, 1_000)
    n = cfg.n(40, 10)
    progress(f"scale: seeding {big} orders (batch_write_item) and 10 orders")
    t0 = time.perf_counter()
    seed(ctx, SMALL_USER, 10)
    seed(ctx, BIG_USER, big)
    details["scale_seed_seconds"] = time.perf_counter() - t0
    ctx.stack.inspect.wait_idle(300)  # the publisher reads the 10,010 stream records (no events come of them)
    s = requests.Session()
    ddb = ctx.stack.client("dynamodb")
    results: dict[str, tuple[list[float], list[float]]] = {}
    for user in (SMALL_USER, BIG_USER):
        progress(f"scale: GET /orders x {n} for {user}")
        h = ctx.headers(user)
        s.get(f"{ctx.base}/orders", headers=h, timeout=30).raise_for_status()
        api, direct = [], []
        for _ in range(n):
            t = time.perf_counter()
            r = s.get(f"{ctx.base}/orders", headers=h, timeout=30)
            api.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
            if len(r.json()["data"]) != (10 if user == SMALL_USER else 20):
                raise RuntimeError(f"GET /orders for {user}: unexpected page size")
            t = time.perf_counter()
            ddb.query(
                TableName=ctx.orders_table,
                KeyConditionExpression="userId = :u",
                ExpressionAttributeValues={":u": {"S": user}},
                ScanIndexForward=False,
                Limit=20,
            )
            direct.append((time.perf_counter() - t) * 1000)
        results[user] = (api, direct)
    small_api, small_direct = results[SMALL_USER]
    big_api, big_direct = results[BIG_USER]
    return [
        Figure(SECTION, "GET /orders, user with 10 orders p50", percentile(small_api, 50), "ms", "", None, f"n={n}"),
        Figure(
            SECTION,
            f"GET /orders, user with {big:,} orders p50",
            percentile(big_api, 50),
            "ms",
            "GET /orders, 10 orders p50",
            percentile(small_api, 50),
            f"n={n}",
        ),
        Figure(
            SECTION,
            f"DynamoDB Query Limit 20, {big:,} orders p50",
            percentile(big_direct, 50),
            "ms",
            "same Query, 10 orders p50",
            percentile(small_direct, 50),
            "moto's cost, not the service's",
        ),
    ]
