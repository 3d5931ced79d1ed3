"""Delivery executions: Step Functions state transitions per order at inbox batch sizes 1, 10 and 25.

Through the local stack's state machine (moto runs it, DeliveryDelaySeconds=0): confirmed orders are seeded
straight into OrdersTable, and the orders inbox's own scheduler (functions/orders/orders/delivery.py) starts
one execution per batch, as the inbox does after each SQS batch. Transitions are counted from each
execution's history (every state entered, plus one for the end: the conservative reading bench/cost.py
uses too); every order must come out delivered.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from ulid import ULID

from bench.common import ROOT, Config, Figure, progress
from bench.stackctx import Ctx
from devstack.aws import make_client

SECTION = "9. delivery executions (one per inbox batch)"
BATCH_SIZES = (1, 10, 25)


def _code() -> tuple[Any, Any, Any]:
    # The scheduler logs a line per execution (Powertools Logger, stdout): not in the bench's table.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    for path in (ROOT / "layers" / "common", ROOT / "functions" / "orders"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    from orders.delivery import StepFunctionsDeliveryScheduler, execution_name
    from orders.repository import delivered_statement

    return StepFunctionsDeliveryScheduler, execution_name, delivered_statement


def seed_confirmed(ctx: Ctx, user: str, n: int) -> list[str]:
    ids = [str(ULID()) for _ in range(n)]
    now = "2026-12-01T00:00:00.000Z"
    for start in range(0, n, 25):
        chunk = [
            {
                "PutRequest": {
                    "Item": {
                        "userId": {"S": user},
                        "orderId": {"S": oid},
                        "bill": {"N": "10"},
                        "status": {"S": "confirmed"},
                        "createdAt": {"S": now},
                        "updatedAt": {"S": now},
                        "correlationId": {"S": f"bench-{oid}"},
                    }
                }
            }
            for oid in ids[start : start + 25]
        ]
        ctx.ddb_internal.batch_write_item(RequestItems={ctx.orders_table: chunk})
    return ids


def transitions(sfn: Any, arn: str) -> int:
    deadline = time.monotonic() + 120
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        if time.monotonic() > deadline:
            raise TimeoutError(f"{arn} still running")
        time.sleep(0.05)
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return sum(1 for e in events if e["type"].endswith("StateEntered")) + 1


def run(cfg: Config, ctx: Ctx, details: dict[str, Any]) -> list[Figure]:
    scheduler_type, execution_name, delivered_statement = _code()
    sfn = make_client("stepfunctions", ctx.stack.aws_endpoint, internal=True)
    machine = ctx.stack.physical_id("DeliveryStateMachine")
    scheduler = scheduler_type(sfn, machine, delivered_statement(ctx.orders_table), 0)
    per_order: dict[int, float] = {}
    batches = cfg.n(4, 1)
    for size in BATCH_SIZES:
        user = f"bench-delivery-{size}"
        progress(f"delivery: {batches} executions of {size} confirmed orders each")
        ids = seed_confirmed(ctx, user, size * batches)
        counted = 0
        for start in range(0, len(ids), size):
            for oid in ids[start : start + size]:
                scheduler.begin(oid)
                scheduler.schedule(user, oid, f"bench-{oid}")
            batch = list(scheduler.pending)
            if scheduler.flush():
                raise RuntimeError("a delivery execution did not start")
            arn = f"{machine.replace(':stateMachine:', ':execution:')}:{execution_name(batch)}"
            counted += transitions(sfn, arn)
        undelivered = [oid for oid in ids if ctx.status(ctx.orders_table, user, oid) != "delivered"]
        if undelivered:
            raise RuntimeError(f"{len(undelivered)} orders not delivered at batch size {size}")
        per_order[size] = counted / len(ids)
    details["delivery"] = {"transitions_per_order": per_order, "executions_per_size": batches}
    return [
        Figure(
            SECTION,
            f"state transitions per order, {size} orders per execution",
            per_order[size],
            "count",
            "1 order per execution",
            per_order[1],
            "states entered + 1 (end), from the execution history",
        )
        for size in BATCH_SIZES
    ]
