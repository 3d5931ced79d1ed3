"""bench/costmodel.py's arithmetic, on a fixed usage: what each line charges, how the batches move it, and
that the price sheet says where every price comes from. No stack, no clock."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bench.costmodel import LINES, PRICES, Usage, Volume, bill, load_prices, traced_share

USAGE = Usage(
    api_requests=4,
    api_invocations=4,
    event_invocations=6,
    gb_seconds=0.1,
    memory_gb=0.25,
    wru=11,
    rru=4,
    events=3,
    inbox_messages=2,
    secrets_calls=0.02,
    transitions_per_execution=3,
    traces=6,
    function_log_bytes=8000,
    response_bytes=4000,
    stored_bytes=1500,
    alarm_metrics=40,
    dashboards=1,
    custom_metrics=12,
    api_methods=13,
    secrets=2,
    kms_keys=1,
    polled_queues=2,
    log_retention_days=30,
)
MILLION = Volume(orders_per_month=1_000_000)
PRICES_USD = load_prices()


def test_every_price_names_its_source_and_date(tmp_path):
    sheet = json.loads(PRICES.read_text())
    assert {line.price for line in LINES} <= set(sheet["prices"])
    broken = json.loads(PRICES.read_text())
    broken["prices"]["sns_per_million_requests"].pop("source")
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="sns_per_million_requests"):
        load_prices(path)


def test_each_line_is_its_quantity_times_its_unit_price():
    lines = bill(USAGE, MILLION, PRICES_USD).lines
    assert lines["Step Functions transitions"] == pytest.approx(3 * 1_000_000 / 1000 * 0.025)  # $75
    assert lines["API Gateway requests"] == pytest.approx(4 * 3.50)
    assert lines["DynamoDB writes"] == pytest.approx(11 * 0.625)
    assert lines["SNS requests"] == pytest.approx(3 * 0.50)
    assert lines["SQS requests of the inbox pollers"] == pytest.approx(2 * 2 * 0.40)  # a receive and a delete
    assert lines["Lambda duration (arm64)"] == pytest.approx(0.1 * 1_000_000 * 0.0000133334)
    # INIT: 1 % of the 10 invocations start an environment, 0.8 s at 0.25 GB each.
    assert lines["Lambda INIT phase (billed since 2025-08)"] == pytest.approx(
        10 * 0.01 * 0.8 * 0.25 * 1_000_000 * 0.0000133334
    )
    # Logs: what the functions write, Lambda's own lines per invocation, one access log line per request.
    ingested_gb = (8000 + 10 * 350 + 4 * 750) * 1_000_000 / 1e9
    assert lines["CloudWatch Logs ingestion"] == pytest.approx(ingested_gb * 0.50)


def test_fixed_lines_cost_the_same_at_any_volume():
    small, large = bill(USAGE, MILLION, PRICES_USD), bill(USAGE, Volume(orders_per_month=100_000_000), PRICES_USD)
    fixed = [name for name, grows in small.per_order.items() if not grows]
    assert {"CloudWatch alarms", "CloudWatch dashboard", "Secrets Manager secrets", "KMS key"} <= set(fixed)
    for name in fixed:
        assert small.lines[name] == large.lines[name], name
    assert small.lines["CloudWatch alarms"] == pytest.approx(40 * 0.10)
    assert small.lines["API Gateway per-method metrics"] == pytest.approx(13 * 5 * 0.30)
    # 5 idle long polls of 20 s per queue, all month: 648,000 requests a queue.
    assert small.lines["SQS idle polling by Lambda"] == pytest.approx(2 * 648_000 / 1e6 * 0.40)
    assert small.fixed == pytest.approx(large.fixed)
    assert small.total == pytest.approx(sum(small.lines.values()))


def test_per_order_lines_grow_with_the_orders():
    small, large = bill(USAGE, MILLION, PRICES_USD), bill(USAGE, Volume(orders_per_month=100_000_000), PRICES_USD)
    assert large.lines["DynamoDB writes"] == pytest.approx(100 * small.lines["DynamoDB writes"])
    # The fixed part weighs less per order at 100 million.
    assert large.per_million_orders < small.per_million_orders


def test_fuller_batches_cut_the_lines_they_batch():
    one = bill(USAGE, MILLION, PRICES_USD).lines
    full = bill(
        USAGE,
        dataclasses.replace(MILLION, orders_per_execution=25, events_per_sns_call=10, messages_per_sqs_batch=10),
        PRICES_USD,
    ).lines
    assert full["Step Functions transitions"] == pytest.approx(one["Step Functions transitions"] / 25)
    assert full["SNS requests"] == pytest.approx(one["SNS requests"] / 10)
    assert full["SQS requests of the inbox pollers"] == pytest.approx(one["SQS requests of the inbox pollers"] / 10)
    assert full["DynamoDB writes"] == one["DynamoDB writes"]  # every order still writes its items


def test_xray_records_everything_below_one_trace_a_second_and_5_percent_far_above():
    assert traced_share(0.5) == 1.0
    assert traced_share(11) == pytest.approx((1 + 0.05 * 10) / 11)
    assert traced_share(100_000) == pytest.approx(0.05, rel=0.01)
    # 1M orders a month is 0.39 orders/s: 2.3 trace roots a second, about half recorded.
    lines = bill(USAGE, MILLION, PRICES_USD).lines
    roots_per_second = 6 * 1_000_000 / (30 * 24 * 3600)
    assert lines["X-Ray traces"] == pytest.approx(6 * traced_share(roots_per_second) * 5.00)


def test_every_line_names_what_moves_it():
    assert len({line.name for line in LINES}) == len(LINES)
    for line in LINES:
        assert line.moved_by.strip(), line.name
        assert (line.per_order is None) != (line.fixed is None), line.name


def test_the_fixed_parts_are_counted_in_the_template():
    """bench/cost.py reads the stack's fixed parts from template.yaml as CloudFormation gets it."""
    from bench.common import Config
    from bench.cost import fixed_parts
    from tests.support.sam_template import ROOT, transformed_template

    parts = fixed_parts(Config(quick=True, template=ROOT / "template.yaml", out=ROOT / "unused.json"))
    cfn = transformed_template()
    alarms = [r["Properties"] for r in cfn["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    read = sum(len([q for q in a.get("Metrics", []) if "MetricStat" in q]) or 1 for a in alarms)
    assert parts["alarm_metrics"] == read > len(alarms)  # metric math alarms pay for each metric they read
    assert parts["dashboards"] == 1
    assert parts["secrets"] == 2  # JwtSecret (hs256, the default) and CardFingerprintKey
    assert parts["polled_queues"] == 2  # OrdersInbox and PaymentsInbox; the streams' polling is free
    routes = sum(len(methods) for methods in next(
        r["Properties"]["Body"]["paths"] for r in cfn["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"
    ).values())  # fmt: skip
    assert parts["api_methods"] == routes
    assert parts["log_retention_days"] == int(cfn["Parameters"]["LogRetentionDays"]["Default"])
