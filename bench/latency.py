"""Request latency per route through the local stack, against the same DynamoDB call made directly."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
import uvicorn

from bench.common import Config, Figure, percentile, progress
from bench.stackctx import Ctx, order_item

SECTION = "2. request latency (sequential, one client)"
USER = "bench-latency"
FLOOR_USER = "bench-latency-floor"


def _sample(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def _ok(resp: requests.Response) -> None:
    if resp.status_code >= 300:
        raise RuntimeError(f"{resp.request.method} {resp.url}: {resp.status_code} {resp.text[:200]}")


def _figures(route: str, ms: list[float], floor_name: str, floor_ms: list[float]) -> list[Figure]:
    out = []
    for p in (50, 95, 99):
        out.append(
            Figure(
                SECTION,
                f"{route} p{p}",
                percentile(ms, p),
                "ms",
                f"{floor_name} p{p}",
                percentile(floor_ms, p),
                f"n={len(ms)}",
            )
        )
    return out


async def _bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"status":404}'})


def bare_asgi_server() -> tuple[uvicorn.Server, str]:
    """A do-nothing ASGI app on uvicorn, listening on a socket created with IPPROTO_TCP (so TCP_NODELAY is set)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(_bare_app, log_level="warning", lifespan="off", access_log=False))
    threading.Thread(target=lambda: server.run(sockets=[sock]), daemon=True, name="bench-bare-asgi").start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    return server, f"http://127.0.0.1:{port}"


def run(cfg: Config, ctx: Ctx, details: dict[str, Any]) -> list[Figure]:  # noqa: PLR0915
    n_read = cfg.n(200, 20)
    n_write = cfg.n(100, 10)
    ddb = ctx.stack.client("dynamodb")  # the floor: boto3 straight to the local AWS services over HTTP
    s = requests.Session()
    base = ctx.base
    h = ctx.headers(USER)
    figures: list[Figure] = []

    progress(f"latency: setup ({20 + n_write} orders through the API, {n_write} floor orders straight to DynamoDB)")
    listed = [ctx.create_order(s, USER) for _ in range(20)]
    to_pay = [ctx.create_order(s, USER) for _ in range(n_write)]
    floor_to_pay = [order_item(FLOOR_USER) for _ in range(n_write)]
    for item in floor_to_pay:
        ddb.put_item(TableName=ctx.orders_table, Item=item)
    ctx.stack.inspect.wait_idle(120)  # payments exist (pending) for every order above

    # ---------------------------------------------------------------- gateway alone
    server, bare = bare_asgi_server()
    try:
        gw = [_sample(lambda: s.get(f"{base}/no-such-route", timeout=30)) for _ in range(n_read)]
        bs = requests.Session()
        bare_ms = [_sample(lambda: bs.get(f"{bare}/no-such-route", timeout=30)) for _ in range(n_read)]
    finally:
        server.should_exit = True
    figures.append(
        Figure(
            SECTION,
            "gateway 404, no function p50",
            percentile(gw, 50),
            "ms",
            "bare uvicorn 404, TCP_NODELAY p50",
            percentile(bare_ms, 50),
            "HTTP front alone",
        )
    )

    # ---------------------------------------------------------------- reads
    oid = listed[0]
    pay_probe = to_pay[0]
    key_o = {"userId": {"S": USER}, "orderId": {"S": oid}}
    key_p = {"userId": {"S": USER}, "orderId": {"S": pay_probe}}

    def q(table: str, user: str) -> Callable[[], Any]:
        return lambda: ddb.query(
            TableName=table,
            KeyConditionExpression="userId = :u",
            ExpressionAttributeValues={":u": {"S": user}},
            ScanIndexForward=False,
            Limit=20,
        )

    reads: list[tuple[str, Callable[[], Any], str, Callable[[], Any]]] = [
        (
            "GET /orders",
            lambda: _ok(s.get(f"{base}/orders", headers=h, timeout=30)),
            "Query",
            q(ctx.orders_table, USER),
        ),
        (
            "GET /orders/{id}",
            lambda: _ok(s.get(f"{base}/orders/{oid}", headers=h, timeout=30)),
            "GetItem",
            lambda: ddb.get_item(TableName=ctx.orders_table, Key=key_o),
        ),
        (
            "GET /payments",
            lambda: _ok(s.get(f"{base}/payments", headers=h, timeout=30)),
            "Query",
            q(ctx.payments_table, USER),
        ),
        (
            "GET /payments/{id}",
            lambda: _ok(s.get(f"{base}/payments/{pay_probe}", headers=h, timeout=30)),
            "GetItem",
            lambda: ddb.get_item(TableName=ctx.payments_table, Key=key_p),
        ),
        (
            "GET /openapi.json",
            lambda: _ok(s.get(f"{base}/openapi.json", timeout=30)),
            "gateway 404",
            lambda: s.get(f"{base}/no-such-route", timeout=30),
        ),
    ]
    for route, call, floor_name, floor in reads:
        progress(f"latency: {route} x {n_read} (interleaved with its floor, {floor_name})")
        call()  # warm
        ms, fl = [], []
        for _ in range(n_read):
            ms.append(_sample(call))
            fl.append(_sample(floor))
        figures += _figures(route, ms, f"DynamoDB {floor_name}" if floor_name != "gateway 404" else floor_name, fl)

    # ---------------------------------------------------------------- writes
    progress(f"latency: POST /orders x {n_write} (floor PutItem)")
    created: list[str] = []
    floor_created: list[dict[str, Any]] = []
    ms, fl = [], []
    for _ in range(n_write):
        ms.append(_sample(lambda: created.append(ctx.create_order(s, USER))))
        item = order_item(FLOOR_USER)
        floor_created.append(item)
        fl.append(
            _sample(
                lambda item=item: ddb.put_item(  # type: ignore[misc]
                    TableName=ctx.orders_table, Item=item, ConditionExpression="attribute_not_exists(userId)"
                )
            )
        )
    figures += _figures("POST /orders", ms, "DynamoDB PutItem", fl)
    ctx.stack.inspect.wait_idle(120)

    def transition(table: str, user: str, order_id: str, to: str, sources: list[str]) -> Any:
        values: dict[str, Any] = {":to": {"S": to}, ":f0": {"S": "2026-01-01T00:00:00.000Z"}, ":f1": {"S": "c"}}
        values.update({f":from{i}": {"S": src} for i, src in enumerate(sources)})
        return ddb.update_item(
            TableName=table,
            Key={"userId": {"S": user}, "orderId": {"S": order_id}},
            UpdateExpression="SET #status = :to, #f0 = :f0, #f1 = :f1",
            ConditionExpression="attribute_exists(userId) AND #status IN ("
            + ", ".join(f":from{i}" for i in range(len(sources)))
            + ")",
            ExpressionAttributeNames={"#status": "status", "#f0": "updatedAt", "#f1": "correlationId"},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    progress(f"latency: DELETE /orders/{{id}} x {n_write} (floor UpdateItem)")
    ms, fl = [], []
    for oid_c, item in zip(created, floor_created, strict=True):
        ms.append(_sample(lambda o=oid_c: _ok(s.delete(f"{base}/orders/{o}", headers=h, timeout=30))))  # type: ignore[misc]
        fo = item["orderId"]["S"]
        fl.append(
            _sample(
                lambda fo=fo: transition(ctx.orders_table, FLOOR_USER, fo, "cancelled", ["confirmed", "created"])  # type: ignore[misc]
            )
        )
    figures += _figures("DELETE /orders/{id}", ms, "DynamoDB UpdateItem", fl)
    ctx.stack.inspect.wait_idle(120)

    progress(f"latency: POST /payments/pay/{{id}} x {n_write} (floor GetItem + UpdateItem)")
    ms, fl = [], []
    for oid_p, item in zip(to_pay, floor_to_pay, strict=True):
        ms.append(_sample(lambda o=oid_p: _ok(ctx.pay(s, USER, o))))  # type: ignore[misc]
        fo = item["orderId"]["S"]

        def floor_pay(fo: str = fo) -> None:
            ddb.get_item(
                TableName=ctx.payments_table,
                Key={"userId": {"S": FLOOR_USER}, "orderId": {"S": fo}},
                ConsistentRead=True,
            )
            transition(ctx.payments_table, FLOOR_USER, fo, "paid", ["pending"])

        fl.append(_sample(floor_pay))
    figures += _figures("POST /payments/pay/{id}", ms, "DynamoDB GetItem+UpdateItem", fl)
    ctx.stack.inspect.wait_idle(120)
    return figures
