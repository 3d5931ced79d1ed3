"""The monthly cost model: every line of the bill an order platform of this template pays, priced with
bench/prices.json. Pure arithmetic (tests/unit/test_cost_model.py): bench/cost.py measures the usage.

A line is either per order (its quantity per order times the orders of the month) or fixed per month (what
the stack costs with no order at all). Each names the template setting (or client behaviour) that moves it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRICES = Path(__file__).with_name("prices.json")
SECONDS_PER_MONTH = 30 * 24 * 3600
# Lambda's own lines per invocation (START, END, REPORT with its INIT duration): about 350 bytes.
PLATFORM_LOG_BYTES_PER_INVOCATION = 350
# One API access log line (the template's AccessLogSetting format, filled in): about 750 bytes.
ACCESS_LOG_BYTES_PER_REQUEST = 750
# CloudWatch Logs bills storage on the compressed size; JSON lines compress to about 15 %.
LOG_COMPRESSION = 0.15
# Lambda's SQS event source polls each queue with 5 long polls (20 s each) while it is idle.
IDLE_POLLERS_PER_QUEUE = 5
IDLE_POLLS_PER_POLLER_PER_MONTH = SECONDS_PER_MONTH / 20
# API Gateway's per-method metrics (MetricsEnabled): Count, Latency, IntegrationLatency, 4XXError, 5XXError.
METRICS_PER_API_METHOD = 5
# X-Ray's default sampling rule: the first request each second, then 5 % of the others.
XRAY_RESERVOIR_PER_SECOND = 1.0
XRAY_FIXED_RATE = 0.05


def load_prices(path: Path = PRICES) -> dict[str, float]:
    """Unit prices in USD by key; every entry must say where it was read and when."""
    sheet = json.loads(path.read_text())
    prices: dict[str, float] = {}
    for key, entry in sheet["prices"].items():
        if not str(entry.get("source", "")).startswith("https://") or not entry.get("read_on"):
            raise ValueError(f"{path.name}: {key} has no source URL or date")
        prices[key] = float(entry["usd"])
    return prices


@dataclass(frozen=True)
class Usage:
    """What one order uses (one order's lifecycle, measured one at a time: every batch holds one item) and
    what the stack holds whatever the traffic."""

    api_requests: float
    api_invocations: float  # the API functions' and the authorizer's
    event_invocations: float  # publishers' and inbox consumers': fewer as their batches fill
    gb_seconds: float
    memory_gb: float  # the functions' memory, for the INIT phase
    wru: float
    rru: float
    events: float  # SNS messages
    inbox_messages: float  # SQS messages the inbox consumers receive
    secrets_calls: float
    transitions_per_execution: float
    traces: float  # X-Ray trace roots: each API request, each event invocation, each execution
    function_log_bytes: float  # what the functions log (JSON lines, EMF metrics)
    response_bytes: float
    stored_bytes: float  # what the order leaves in the tables
    alarm_metrics: int
    dashboards: int
    custom_metrics: int
    api_methods: int
    secrets: int
    kms_keys: int
    polled_queues: int
    log_retention_days: int


@dataclass(frozen=True)
class Volume:
    """A month's traffic and what it does to the batches."""

    orders_per_month: int
    orders_per_execution: float = 1.0  # inbox batch fill: confirmed orders per delivery execution
    events_per_sns_call: float = 1.0  # stream batch fill: events per PublishBatch call
    messages_per_sqs_batch: float = 1.0  # messages per receive (and per delete, and per inbox invocation)
    cold_start_share: float = 0.01  # invocations that start an execution environment
    init_seconds: float = 0.8  # one INIT phase: runtime start and the handler's imports

    @property
    def orders_per_second(self) -> float:
        return self.orders_per_month / SECONDS_PER_MONTH


def traced_share(traces_per_second: float) -> float:
    """The share of trace roots X-Ray's default rule records at a steady rate."""
    if traces_per_second <= XRAY_RESERVOIR_PER_SECOND:
        return 1.0
    sampled = XRAY_RESERVOIR_PER_SECOND + XRAY_FIXED_RATE * (traces_per_second - XRAY_RESERVOIR_PER_SECOND)
    return sampled / traces_per_second


@dataclass(frozen=True)
class Line:
    name: str
    price: str  # key in prices.json
    per_order: Callable[[Usage, Volume], float] | None  # units of the price per order
    fixed: Callable[[Usage], float] | None  # units of the price per month
    moved_by: str
    scale: float = 1.0  # the price's unit: 1e6 for "per million"


def _log_bytes(u: Usage, v: Volume) -> float:
    invocations = u.api_invocations + u.event_invocations / v.messages_per_sqs_batch
    return (
        u.function_log_bytes
        + invocations * PLATFORM_LOG_BYTES_PER_INVOCATION
        + u.api_requests * ACCESS_LOG_BYTES_PER_REQUEST
    )


def _traces(u: Usage, v: Volume) -> float:
    roots = u.traces  # measured one order at a time; batched invocations carry several orders
    return roots * traced_share(roots * v.orders_per_second)


GB = 1e9
LINES: list[Line] = [
    Line("API Gateway requests", "apigateway_rest_per_million_requests", lambda u, v: u.api_requests, None,
         "client behaviour (polling); AuthorizerCacheTtlSeconds does not move it", 1e6),
    Line("Lambda requests", "lambda_per_million_requests",
         lambda u, v: u.api_invocations + u.event_invocations / v.messages_per_sqs_batch, None,
         "event sources' BatchSize and MaximumBatchingWindowInSeconds; AuthorizerCacheTtlSeconds", 1e6),
    Line("Lambda duration (arm64)", "lambda_arm64_per_gb_second", lambda u, v: u.gb_seconds, None,
         "Globals MemorySize and Architectures; CardSandboxLatencyMs (a real provider's latency)"),
    Line("Lambda INIT phase (billed since 2025-08)", "lambda_arm64_per_gb_second",
         lambda u, v: (u.api_invocations + u.event_invocations) * v.cold_start_share * v.init_seconds * u.memory_gb,
         None, "MemorySize; the handlers' imports (bench section 1); SnapStart where the runtime has it"),
    Line("DynamoDB writes", "dynamodb_on_demand_per_million_wru", lambda u, v: u.wru, None,
         "Idempotency-Key on POSTs (2 writes each, IdempotencyTable)", 1e6),
    Line("DynamoDB reads", "dynamodb_on_demand_per_million_rru", lambda u, v: u.rru, None,
         "client polling; Idempotency-Key", 1e6),
    Line("DynamoDB storage (a month kept)", "dynamodb_storage_per_gb_month", lambda u, v: u.stored_bytes / GB, None,
         "what the items hold; IdempotencyTable's TTL"),
    Line("DynamoDB PITR backups (a month kept)", "dynamodb_pitr_per_gb_month", lambda u, v: u.stored_bytes / GB,
         None, "PointInTimeRecoverySpecification on OrdersTable, PaymentsTable, CardSandboxTable"),
    Line("SNS requests", "sns_per_million_requests", lambda u, v: u.events / v.events_per_sns_call, None,
         "the publishers' PublishBatch (OUTBOX_MAX_ENTRIES_PER_CALL), stream BatchSize", 1e6),
    Line("SQS requests of the inbox pollers", "sqs_standard_per_million_requests",
         lambda u, v: 2 * u.inbox_messages / v.messages_per_sqs_batch, None,
         "inbox BatchSize and MaximumBatchingWindowInSeconds (a receive and a delete per batch)", 1e6),
    Line("Step Functions transitions", "stepfunctions_standard_per_thousand_transitions",
         lambda u, v: u.transitions_per_execution / v.orders_per_execution, None,
         "orders per execution: OrdersInbox BatchSize / MaximumBatchingWindowInSeconds; statemachine/delivery.asl.json",
         1e3),
    Line("Secrets Manager calls", "secretsmanager_per_ten_thousand_calls", lambda u, v: u.secrets_calls, None,
         "the authorizer's and the pay function's caches of their secrets", 1e4),
    Line("KMS requests (encrypted topics and inboxes)", "kms_per_ten_thousand_requests",
         lambda u, v: u.events / v.events_per_sns_call, None,
         "KmsMasterKeyId on the topics; KmsDataKeyReusePeriodSeconds on the inboxes", 1e4),
    Line("CloudWatch Logs ingestion", "cloudwatch_logs_ingestion_per_gb", lambda u, v: _log_bytes(u, v) / GB, None,
         "Globals POWERTOOLS_LOG_LEVEL (INFO: a line per event and request), the API's AccessLogSetting"),
    Line("CloudWatch Logs storage", "cloudwatch_logs_storage_per_gb_month",
         lambda u, v: _log_bytes(u, v) * LOG_COMPRESSION * u.log_retention_days / 30 / GB, None,
         "LogRetentionDays (a month's logs kept that many days)"),
    Line("X-Ray traces", "xray_per_million_traces_recorded", _traces, None,
         "Globals Tracing: Active, the API's TracingEnabled, the state machine's Tracing; X-Ray sampling rules", 1e6),
    Line("Data transfer out", "data_transfer_out_per_gb", lambda u, v: u.response_bytes / GB, None,
         "MinimumCompressionSize (responses of 1 KiB and more gzip-compressed)"),
    Line("CloudWatch alarms", "cloudwatch_alarm_metric_per_month", None, lambda u: u.alarm_metrics,
         "the template's alarms (each metric a metric math alarm reads is paid)"),
    Line("CloudWatch dashboard", "cloudwatch_dashboard_per_month", None, lambda u: u.dashboards, "OrderFlowDashboard"),
    Line("Custom metrics (Powertools EMF)", "cloudwatch_metric_per_month", None, lambda u: u.custom_metrics,
         "the metrics the code counts (name x service); POWERTOOLS_METRICS_NAMESPACE per environment"),
    Line("API Gateway per-method metrics", "cloudwatch_metric_per_month", None,
         lambda u: u.api_methods * METRICS_PER_API_METHOD, "MethodSettings MetricsEnabled: true"),
    Line("Secrets Manager secrets", "secretsmanager_per_secret_month", None, lambda u: u.secrets,
         "JwtSecret (AuthMode hs256), CardFingerprintKey"),
    Line("KMS key", "kms_per_key_month", None, lambda u: u.kms_keys, "EventsKey"),
    Line("SQS idle polling by Lambda", "sqs_standard_per_million_requests", None,
         lambda u: u.polled_queues * IDLE_POLLERS_PER_QUEUE * IDLE_POLLS_PER_POLLER_PER_MONTH,
         "one SQS event source per inbox", 1e6),
]  # fmt: skip


@dataclass
class Bill:
    volume: Volume
    lines: dict[str, float] = field(default_factory=dict)  # USD a month per line
    per_order: dict[str, bool] = field(default_factory=dict)  # True: the line grows with the orders

    @property
    def total(self) -> float:
        return sum(self.lines.values())

    @property
    def fixed(self) -> float:
        return sum(usd for name, usd in self.lines.items() if not self.per_order[name])

    @property
    def per_million_orders(self) -> float:
        return self.total / self.volume.orders_per_month * 1e6


def bill(usage: Usage, volume: Volume, prices: dict[str, float]) -> Bill:
    out = Bill(volume)
    for line in LINES:
        if line.per_order is not None:
            units = line.per_order(usage, volume) * volume.orders_per_month
        else:
            assert line.fixed is not None
            units = line.fixed(usage)
        out.lines[line.name] = units / line.scale * prices[line.price]
        out.per_order[line.name] = line.per_order is not None
    return out


def as_json(b: Bill) -> dict[str, Any]:
    return {
        "orders_per_month": b.volume.orders_per_month,
        "assumptions": b.volume.__dict__,
        "usd_per_month": dict(sorted(b.lines.items(), key=lambda kv: -kv[1])),
        "total_usd_per_month": b.total,
        "fixed_usd_per_month": b.fixed,
        "usd_per_million_orders": b.per_million_orders,
        "moved_by": {line.name: line.moved_by for line in LINES},
    }
