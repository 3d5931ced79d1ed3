"""The whole monthly cost at 1M and 100M orders a month: one order's lifecycle measured through the local
stack (requests, invocations, durations, log bytes, stored bytes), the stack's fixed parts read from the
template, priced by bench/costmodel.py with bench/prices.json."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.common import Config, Figure, progress
from bench.costmodel import Bill, Usage, Volume, as_json, bill, load_prices
from bench.stackctx import Ctx, wait_until
from devstack.template.loader import load_template, read_template

SECTION = "6. AWS requests and cost per order"
WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
READS = {"GetItem", "Query"}
# What a month's traffic does to the batches (docs/bench.md): at 1M orders a month (0.4 orders/s) every batch
# holds one item; at 100M (39 orders/s) an inbox receive or a stream batch holds about 2, without a batching
# window; the functions' environments stay warm longer.
VOLUMES = {
    "1M": Volume(orders_per_month=1_000_000, cold_start_share=0.01),
    "100M": Volume(
        orders_per_month=100_000_000,
        orders_per_execution=2,
        events_per_sns_call=2,
        messages_per_sqs_batch=2,
        cold_start_share=0.001,
    ),
}


def transitions_per_execution(definition: dict[str, Any]) -> tuple[int, list[str]]:
    """States entered on the happy path from StartAt (a Choice's Default is the happy path: every statement
    done), plus one for the transition to the end.

    Wait -> Task -> Choice -> Succeed counts 5, the conservative reading; AWS's "each step executed" reading
    gives one less (4). The retry path (a statement failed for another reason than its condition) is rare and
    not counted.
    """
    states = definition["States"]
    name = definition["StartAt"]
    path = []
    while True:
        path.append(name)
        st = states[name]
        if st.get("End") or st.get("Type") in ("Succeed", "Fail"):
            break
        if st.get("Type") == "Choice":
            name = st["Default"]
        elif "Next" in st:
            name = st["Next"]
        else:
            break
    return len(path) + 1, path


def item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (strings and numbers as their text)."""
    return sum(len(name) + len(str(next(iter(value.values())))) for name, value in item.items())


def lifecycle(ctx: Ctx, s: requests.Session, user: str) -> int:
    """Create and pay an order (Idempotency-Key on both POSTs), then wait until it is delivered; the bytes
    the order leaves in OrdersTable and PaymentsTable. The bench's own polling is internal: not counted."""
    oid = ctx.create_order(s, user, key=True)
    wait_until(lambda: ctx.item(ctx.payments_table, user, oid) is not None, interval=0.01)
    ctx.pay(s, user, oid, key=True).raise_for_status()
    wait_until(lambda: ctx.status(ctx.orders_table, user, oid) == "delivered", interval=0.01)
    items = (ctx.item(ctx.orders_table, user, oid), ctx.item(ctx.payments_table, user, oid))
    return sum(item_bytes(i) for i in items if i)


def nested_resources(path: Path, template: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of the template's local nested stacks (observability.yaml: the alarms and the dashboard),
    read with stand-in parameter values: what is counted here does not depend on them."""
    found = []
    for res in template["Resources"].values():
        if res["Type"] == "AWS::CloudFormation::Stack" and not str(res["Properties"]["TemplateURL"]).startswith("http"):
            child = path.parent / res["Properties"]["TemplateURL"]
            declared = load_template(child)
            stand_ins = {n: "0" if p["Type"] == "Number" else n for n, p in declared["Parameters"].items()}
            found.extend(read_template(child, stand_ins).template["Resources"].values())
    return found


def fixed_parts(cfg: Config) -> dict[str, int]:
    """What the stack holds whatever the traffic, counted in the template as CloudFormation gets it."""
    template = read_template(cfg.template, {}).template
    resources = [*template["Resources"].values(), *nested_resources(cfg.template, template)]

    def of(kind: str) -> list[dict[str, Any]]:
        return [r.get("Properties") or {} for r in resources if r["Type"] == kind]

    alarm_metrics = sum(
        len([q for q in p.get("Metrics", []) if "MetricStat" in q]) or 1 for p in of("AWS::CloudWatch::Alarm")
    )
    api_methods = sum(
        len(methods) for api in of("AWS::ApiGateway::RestApi") for methods in api["Body"]["paths"].values()
    )
    polled = [m for m in of("AWS::Lambda::EventSourceMapping") if "StartingPosition" not in m]
    retention = int(template["Parameters"]["LogRetentionDays"].get("Default", 30))
    return {
        "alarm_metrics": alarm_metrics,
        "dashboards": len(of("AWS::CloudWatch::Dashboard")),
        "api_methods": api_methods,
        "secrets": len(of("AWS::SecretsManager::Secret")),
        "kms_keys": len(of("AWS::KMS::Key")),
        "polled_queues": len(polled),
        "log_retention_days": retention,
    }


def emf_metrics(lines: list[str]) -> set[tuple[str, str]]:
    """(metric name, dimensions) of every Powertools EMF record in these log lines."""
    found: set[tuple[str, str]] = set()
    for line in lines:
        if '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"].get("CloudWatchMetrics", []):
            dims = ",".join(f"{d}={record.get(d)}" for group in directive.get("Dimensions", []) for d in group)
            found |= {(m["Name"], dims) for m in directive.get("Metrics", [])}
    return found


def run(cfg: Config, ctx: Ctx, details: dict[str, Any]) -> list[Figure]:
    prices = load_prices()
    n = cfg.n(5, 1)
    stack = ctx.stack
    s = requests.Session()
    response_bytes: list[int] = []
    s.hooks["response"].append(lambda r, *a, **k: response_bytes.append(len(r.content) + 300))  # + headers
    lifecycle(ctx, s, "bench-cost-warmup")  # warm workers; the authorizer has fetched its secret
    stack.inspect.wait_idle(60)
    stack.inspect.reset_aws_requests()
    response_bytes.clear()
    first = len(stack.invocations)
    logs_before = {fn: len(stack.function_logs(fn)) for fn in stack.model.functions}
    progress(f"cost: {n} order lifecycles (create, pay, confirmed, delivered), a new user and token each")
    stored = sum(lifecycle(ctx, s, f"bench-cost-{i}") for i in range(n))
    stack.inspect.wait_idle(60)
    counts = stack.inspect.aws_requests()
    inv = stack.invocations[first:]
    log_lines = [line for fn, before in logs_before.items() for line in stack.function_logs(fn)[before:]]
    usage = measured_usage(cfg, ctx, Measured(n, counts, inv, log_lines, stored, sum(response_bytes)))
    bills = {label: bill(usage, volume, prices) for label, volume in VOLUMES.items()}
    details["cost"] = {
        "orders": n,
        "aws_requests_per_order": {f"{svc}:{op}": c / n for (svc, op), c in sorted(counts.items())},
        "lambda_invocations_per_order": {k: v / n for k, v in sorted(Counter(i.function for i in inv).items())},
        "usage_per_order": usage.__dict__,
        "bills": {label: as_json(b) for label, b in bills.items()},
        "custom_metrics_seen": sorted(f"{name} [{dims}]" for name, dims in emf_metrics(log_lines)),
    }
    return figures(usage, bills)


@dataclass(frozen=True)
class Measured:
    """What the lifecycles did: ``orders`` of them, their AWS requests, invocations and log lines."""

    orders: int
    counts: Counter[tuple[str, str]]
    invocations: list[Any]
    log_lines: list[str]
    stored_bytes: int
    response_bytes: int


def measured_usage(cfg: Config, ctx: Ctx, run: Measured) -> Usage:
    n, counts, inv = run.orders, run.counts, run.invocations
    functions = ctx.stack.model.functions
    api = [i for i in inv if i.trigger.startswith("http ") or i.trigger == "authorizer"]
    events = [i for i in inv if i not in api]
    gb_s = sum(functions[i.function].memory / 1024 * math.ceil(i.duration_ms) / 1000 for i in inv)
    memory = sum(functions[i.function].memory / 1024 for i in inv) / max(1, len(inv))
    executions = counts.get(("stepfunctions", "StartExecution"), 0) / n
    per_exec, _path = transitions_per_execution(next(iter(ctx.stack.model.state_machines.values())).definition)
    return Usage(
        api_requests=sum(1 for i in inv if i.trigger.startswith("http ")) / n,
        api_invocations=len(api) / n,
        event_invocations=len(events) / n,
        gb_seconds=gb_s / n,
        memory_gb=memory,
        wru=sum(c for (svc, op), c in counts.items() if svc == "dynamodb" and op in WRITES) / n,
        rru=sum(c for (svc, op), c in counts.items() if svc == "dynamodb" and op in READS) / n,
        events=sum(c for (svc, op), c in counts.items() if svc == "sns" and op.startswith("Publish")) / n,
        inbox_messages=sum(1 for i in events if i.trigger.startswith("sqs ")) / n,
        secrets_calls=sum(c for (svc, _op), c in counts.items() if svc == "secretsmanager") / n,
        transitions_per_execution=per_exec * executions,
        traces=(sum(1 for i in inv if i.trigger.startswith("http ")) + len(events)) / n + executions,
        function_log_bytes=sum(len(line) + 1 for line in run.log_lines) / n,
        response_bytes=run.response_bytes / n,
        stored_bytes=run.stored_bytes / n,
        custom_metrics=len(emf_metrics(run.log_lines)),
        **fixed_parts(cfg),
    )


def figures(usage: Usage, bills: dict[str, Bill]) -> list[Figure]:
    out = [
        Figure(SECTION, "API requests per order", usage.api_requests, "count"),
        Figure(SECTION, "Lambda invocations per order", usage.api_invocations + usage.event_invocations, "count"),
        Figure(SECTION, "Lambda GB-seconds per order", usage.gb_seconds, "GB-s"),
        Figure(SECTION, "SNS calls per order (one order at a time)", usage.events, "count"),
        Figure(
            SECTION,
            "Step Functions transitions per order (one order a batch)",
            usage.transitions_per_execution,
            "count",
        ),
        Figure(SECTION, "log bytes the functions write per order", usage.function_log_bytes, "bytes"),
    ]
    for label, b in bills.items():
        note = f"{b.volume.orders_per_execution:g} orders/execution, {b.volume.events_per_sns_call:g} events/SNS call"
        out.append(Figure(SECTION, f"cost a month at {label} orders", b.total, "USD", "", None, note))
        out.append(Figure(SECTION, f"  per million orders at {label}", b.per_million_orders, "USD"))
        out.append(Figure(SECTION, f"  fixed a month (no orders) at {label}", b.fixed, "USD", "the month", b.total))
        out += [
            Figure(SECTION, f"  {label}: {name}", usd, "USD", "the month", b.total)
            for name, usd in sorted(b.lines.items(), key=lambda kv: -kv[1])
        ]
    return out
