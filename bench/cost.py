"""AWS requests, invocations and cost per order: one order's whole lifecycle, priced with prices.json."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from bench.common import Config, Figure, progress
from bench.stackctx import Ctx, wait_until

SECTION = "6. AWS requests and cost per order"
PRICES = Path(__file__).with_name("prices.json")
WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
READS = {"GetItem", "Query"}


def transitions_per_execution(definition: dict[str, Any]) -> tuple[int, list[str]]:
    """States entered on the happy path from StartAt, plus one for the transition to the end.

    Wait -> Task(End) counts 3 (start->Wait, Wait->Task, Task->end), the conservative reading; AWS's
    "each step executed" reading gives one less (2).
    """
    states = definition["States"]
    name = definition["StartAt"]
    path = []
    while True:
        path.append(name)
        st = states[name]
        if st.get("End") or st.get("Type") in ("Succeed", "Fail") or "Next" not in st:
            break
        name = st["Next"]
    return len(path) + 1, path


def lifecycle(ctx: Ctx, s: requests.Session, user: str) -> None:
    """Create and pay an order (Idempotency-Key on both POSTs), then wait until it is delivered.
    The bench's own polling reads the tables with an internal client: not counted."""
    oid = ctx.create_order(s, user, key=True)
    wait_until(lambda: ctx.item(ctx.payments_table, user, oid) is not None, interval=0.01)
    ctx.pay(s, user, oid, key=True).raise_for_status()
    wait_until(lambda: ctx.status(ctx.orders_table, user, oid) == "delivered", interval=0.01)


def run(cfg: Config, ctx: Ctx, details: dict[str, Any]) -> list[Figure]:
    sheet = json.loads(PRICES.read_text())
    price = sheet["prices"]
    n = cfg.n(5, 1)
    stack = ctx.stack
    s = requests.Session()
    lifecycle(ctx, s, "bench-cost-warmup")  # warm workers; the authorizer has fetched its secret
    stack.inspect.wait_idle(60)
    stack.inspect.reset_aws_requests()
    first = len(stack.invocations)
    progress(f"cost: {n} order lifecycles (create, pay, confirmed, delivered), a new user and token each")
    for i in range(n):
        lifecycle(ctx, s, f"bench-cost-{i}")
    stack.inspect.wait_idle(60)
    counts = stack.inspect.aws_requests()
    inv = stack.invocations[first:]

    per_order = {f"{svc}:{op}": c / n for (svc, op), c in sorted(counts.items())}
    api_requests = sum(1 for i in inv if i.trigger.startswith("http ")) / n
    by_fn = Counter(i.function for i in inv)
    gb_s = sum(stack.model.functions[i.function].memory / 1024 * math.ceil(i.duration_ms) / 1000 for i in inv) / n
    invocations = len(inv) / n
    ddb_w = sum(c for (svc, op), c in counts.items() if svc == "dynamodb" and op in WRITES) / n
    ddb_r = sum(c for (svc, op), c in counts.items() if svc == "dynamodb" and op in READS) / n
    other_ddb = {
        k: v for k, v in per_order.items() if k.startswith("dynamodb:") and k.split(":")[1] not in WRITES | READS
    }
    sns = counts.get(("sns", "Publish"), 0) / n
    sqs = sum(c for (svc, _op), c in counts.items() if svc == "sqs") / n
    executions = counts.get(("stepfunctions", "StartExecution"), 0) / n
    machine = next(iter(stack.model.state_machines.values()))
    per_exec, path = transitions_per_execution(machine.definition)
    secrets = sum(c for (svc, _op), c in counts.items() if svc == "secretsmanager") / n
    inbox_messages = sum(1 for i in inv if i.trigger.startswith("sqs ")) / n

    million = 1_000_000
    breakdown = {
        "API Gateway REST requests": api_requests * price["apigateway_rest_per_million_requests"],
        "Lambda requests": invocations * price["lambda_per_million_requests"],
        "Lambda GB-seconds (arm64)": gb_s * million * price["lambda_arm64_per_gb_second"],
        "DynamoDB writes (WRU)": ddb_w * price["dynamodb_on_demand_per_million_wru"],
        "DynamoDB reads (RRU)": ddb_r * price["dynamodb_on_demand_per_million_rru"],
        "SNS publishes": sns * price["sns_per_million_publishes"],
        "SQS requests (counted)": sqs * price["sqs_standard_per_million_requests"],
        "Step Functions transitions": executions
        * per_exec
        * million
        / 1000
        * price["stepfunctions_standard_per_thousand_transitions"],
        "Secrets Manager calls": secrets * million / 10_000 * price["secretsmanager_per_ten_thousand_calls"],
    }
    total = sum(breakdown.values())
    # Not in the total: the SQS event source mapping's own receive/delete calls (see docs/bench.md).
    esm_sqs = inbox_messages * 2 * price["sqs_standard_per_million_requests"]

    details["cost"] = {
        "orders": n,
        "aws_requests_per_order": per_order,
        "unpriced_dynamodb_operations": other_ddb,
        "lambda_invocations_per_order": {k: v / n for k, v in sorted(by_fn.items())},
        "api_requests_per_order": api_requests,
        "lambda_gb_seconds_per_order": gb_s,
        "step_functions": {"executions_per_order": executions, "transitions_per_execution": per_exec, "path": path},
        "dollars_per_million_orders": dict(sorted(breakdown.items(), key=lambda kv: -kv[1])),
        "total_dollars_per_million_orders": total,
        "not_in_total": {"SQS event source mapping receive+delete, modeled 2 per inbox message": esm_sqs},
        "prices": sheet,
    }

    figures: list[Figure] = [
        Figure(SECTION, "API requests per order", api_requests, "count"),
        Figure(SECTION, "Lambda invocations per order", invocations, "count"),
    ]
    figures += [
        Figure(SECTION, f"  invocations: {fn}", c / n, "count", "all invocations per order", invocations)
        for fn, c in sorted(by_fn.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    total_requests = sum(per_order.values())
    figures.append(Figure(SECTION, "AWS requests per order (functions, SFN)", total_requests, "count"))
    figures += [
        Figure(SECTION, f"  {k}", v, "count", "all AWS requests per order", total_requests)
        for k, v in sorted(per_order.items(), key=lambda kv: -kv[1])
    ]
    figures.append(
        Figure(
            SECTION,
            "Step Functions transitions per order",
            executions * per_exec,
            "count",
            f"states on the path {'+'.join(path)} (+1 end) x executions",
        )
    )
    figures.append(Figure(SECTION, "Lambda GB-seconds per order", gb_s, "GB-s"))
    figures.append(
        Figure(SECTION, "cost per million orders", total, "USD", "", None, f"prices as read {sheet['read_on']}; verify")
    )
    figures += [
        Figure(SECTION, f"  {item}", usd, "USD", "cost per million orders", total)
        for item, usd in sorted(breakdown.items(), key=lambda kv: -kv[1])
    ]
    figures.append(
        Figure(
            SECTION,
            "  (not in total) SQS ESM receive+delete, modeled",
            esm_sqs,
            "USD",
            "cost per million orders",
            total,
            "2 requests per inbox message; the engine's own polling is uncounted",
        )
    )
    return figures
