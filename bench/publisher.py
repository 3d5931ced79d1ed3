"""Stream publisher throughput: SNS calls per 100 events and events/s, one event per call against PublishBatch.

Each run is a local stack of its own (the publishers' settings differ), with every SNS publish call of the
functions held for ``SNS_LATENCY_S`` (what one SNS call takes on AWS, 10-20 ms) by a fault hook. The events
are order-delivered-events: OrdersTable items written straight with status ``delivered``, which the
publisher turns into events that no subscription takes, so nothing downstream competes with it.
"""

from __future__ import annotations

import tempfile
import time
import tomllib
from collections.abc import Callable
from typing import Any

from ulid import ULID

from bench.common import ROOT, Config, Figure, progress
from bench.stackctx import bench_stack
from devstack.aws import make_client

SECTION = "8. stream publishers (outbox)"
SNS_LATENCY_S = 0.015
PUBLISHER = "OrdersPublisherFunction"


class SnsLatency:
    """Fault hooks (devstack.hooks.FaultHooks) that fail nothing: every SNS publish of a function waits first."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def aws_fault(self, service: str, operation: str, user_agent: str, internal: bool) -> None:
        if service == "sns" and operation.startswith("Publish") and not internal:
            time.sleep(self.seconds)

    def arm_kill(self, function: str, kill: Callable[[], bool]) -> None:
        return None

    def observed(self, function: str, seconds: float) -> None:
        return None

    def refuse_delivery(self, function: str) -> None:
        return None


def prod_parallelization_factor() -> str:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    overrides = dict(i.split("=", 1) for i in config["prod"]["deploy"]["parameters"]["parameter_overrides"].split())
    return overrides.get("StreamParallelizationFactor", "1")


def seed_delivered(stack: Any, n: int, users: int) -> None:
    ddb = make_client("dynamodb", stack.aws_endpoint, internal=True)
    table = stack.physical_id("OrdersTable")
    now = "2026-12-01T00:00:00.000Z"
    items = [
        {
            "userId": {"S": f"bench-outbox-{i % users}"},
            "orderId": {"S": str(ULID())},
            "bill": {"N": "10"},
            "status": {"S": "delivered"},
            "createdAt": {"S": now},
            "updatedAt": {"S": now},
            "correlationId": {"S": f"bench-outbox-{i}"},
        }
        for i in range(n)
    ]
    for start in range(0, n, 25):
        chunk = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        ddb.batch_write_item(RequestItems={table: chunk})


def measure(cfg: Config, n: int, parameters: dict[str, str], publisher_env: dict[str, str]) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-outbox-") as logs,
        bench_stack(cfg.template, logs, parameters, function_env={PUBLISHER: publisher_env}) as stack,
    ):
        seed_delivered(stack, 5, users=5)  # warm the publisher's worker
        stack.inspect.wait_idle(120)
        stack.attach_hooks(SnsLatency(SNS_LATENCY_S))
        stack.inspect.reset_aws_requests()
        first = len(stack.invocations)
        t0 = time.monotonic()
        seed_delivered(stack, n, users=50)
        stack.inspect.wait_idle(600)
        wall = time.monotonic() - t0
        counts = stack.inspect.aws_requests()
        runs = [i for i in stack.invocations[first:] if i.function == PUBLISHER]
    calls = sum(c for (service, op), c in counts.items() if service == "sns" and op.startswith("Publish"))
    busy = sum(i.duration_ms for i in runs) / 1000
    return {
        "sns_calls_per_100_events": 100 * calls / n,
        "events_per_second_per_batch": n / busy if busy else 0.0,
        "events_per_second_wall": n / wall,
        "invocations": len(runs),
        "wall_seconds": wall,
    }


def run(cfg: Config, details: dict[str, Any]) -> list[Figure]:
    n = cfg.n(500, 60)
    factor = prod_parallelization_factor()
    progress(f"outbox: {n} events, each SNS call held {SNS_LATENCY_S * 1000:.0f} ms: one event per call, factor 1")
    before = measure(cfg, n, {"StreamParallelizationFactor": "1"}, {"OUTBOX_MAX_ENTRIES_PER_CALL": "1"})
    progress(f"outbox: the same with PublishBatch (10 per call) and ParallelizationFactor {factor} (prod's)")
    after = measure(cfg, n, {"StreamParallelizationFactor": factor}, {})
    details["outbox"] = {"events": n, "sns_latency_s": SNS_LATENCY_S, "before": before, "after": after}
    note = f"n={n}, {SNS_LATENCY_S * 1000:.0f} ms per SNS call"
    return [
        Figure(SECTION, "SNS calls per 100 events: one per event", before["sns_calls_per_100_events"], "count"),
        Figure(
            SECTION,
            "SNS calls per 100 events: PublishBatch",
            after["sns_calls_per_100_events"],
            "count",
            "one call per event",
            before["sns_calls_per_100_events"],
        ),
        Figure(
            SECTION,
            "publisher events/s per batch in flight: one per call",
            before["events_per_second_per_batch"],
            "events/s",
            note=note,
        ),
        Figure(
            SECTION,
            "publisher events/s per batch in flight: PublishBatch",
            after["events_per_second_per_batch"],
            "events/s",
            "one per call",
            before["events_per_second_per_batch"],
            note,
        ),
        Figure(SECTION, "events/s through the stack: before", before["events_per_second_wall"], "events/s", note=note),
        Figure(
            SECTION,
            f"events/s through the stack: PublishBatch, factor {factor}",
            after["events_per_second_wall"],
            "events/s",
            "before",
            before["events_per_second_wall"],
            note,
        ),
    ]
