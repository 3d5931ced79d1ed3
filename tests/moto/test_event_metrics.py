"""Events and metrics that tell the truth (issue 10): a delivery is counted once it is published, the
event-source handlers log with the Lambda context, and every environment's metrics have a namespace of
their own, which the dashboard and alarms read."""

import copy
import io
import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from devstack.aws import Fault
from tests.moto.test_events import seed_order
from tests.support.lambda_env import AwsHarness, LambdaContext, load_event
from tests.support.sam_template import sam_template

EVENT_FUNCTIONS = {
    "OrdersPublisherFunction": "orders-stream-created.json",
    "PaymentsPublisherFunction": "payments-stream-paid.json",
    "OrdersInboxFunction": "orders-inbox-payment-processed.json",
    "PaymentsInboxFunction": "payments-inbox-payment-create.json",
}


def emitted(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def metric_values(out: str, name: str) -> list[float]:
    return [value for record in emitted(out) if "_aws" in record and name in record for value in record[name]]


def test_orders_delivered_is_counted_after_the_publish_not_per_attempt(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event("orders-stream-delivered.json")
    handler = aws.handler("OrdersPublisherFunction", monkeypatch)
    aws.server.faults.inject(
        Fault(service="sns", operation="PublishBatch", status=500, code="InternalError", times=100)
    )
    capsys.readouterr()
    for _ in range(3):  # the stream retries the failed record: nothing was delivered to anyone yet
        with pytest.raises(BatchProcessingError):
            handler(event, LambdaContext(function_name="OrdersPublisherFunction"))
    assert metric_values(capsys.readouterr().out, "OrdersDelivered") == []

    aws.server.faults.clear()
    handler(event, LambdaContext(function_name="OrdersPublisherFunction"))
    assert metric_values(capsys.readouterr().out, "OrdersDelivered") == [1.0]


def test_the_mapping_from_change_to_event_counts_nothing(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.handler("OrdersPublisherFunction", monkeypatch)
    from orders.publisher import order_event
    from platform_core.dynamo import deserialize
    from platform_core.observability import metrics

    record = load_event("orders-stream-delivered.json")["Records"][0]["dynamodb"]
    for _ in range(3):  # re-run on every retry and bisection of the stream
        assert order_event(deserialize(record["OldImage"]), deserialize(record["NewImage"])) is not None
    assert metrics.metric_set == {}


@pytest.mark.parametrize(("function", "sample"), EVENT_FUNCTIONS.items())
def test_event_source_handlers_log_with_the_lambda_context(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, function: str, sample: str
) -> None:
    if function == "OrdersInboxFunction":
        seed_order(aws, "created")
    handler = aws.handler(function, monkeypatch)
    from platform_core.observability import logger

    logs = io.StringIO()  # the logger of a service keeps the stream it was first given (another test's)
    logger.registered_handler.stream = logs  # type: ignore[attr-defined] # (setStream would flush the old one)
    context = LambdaContext(function_name=function)
    assert handler(load_event(sample), context) == {"batchItemFailures": []}
    lines = emitted(logs.getvalue())
    assert lines, "the handler logs what it did"
    for line in lines:
        assert line["function_name"] == function, line
        assert line["function_request_id"] == context.aws_request_id, line
        assert isinstance(line["cold_start"], bool), line
        assert line["correlation_id"] == "sample-correlation-id", line


def test_metrics_namespace_is_per_environment() -> None:
    """Every function's namespace, as CloudFormation resolves it for each environment (after the SAM transform)."""
    for parameters, environment in (({}, "dev"), ({"EnvironmentName": "prod"}, "prod")):
        sam = sam_template(**parameters)
        namespaces = {lid: sam.value(fn.env["POWERTOOLS_METRICS_NAMESPACE"]) for lid, fn in sam.functions.items()}
        assert len(namespaces) >= 10
        assert set(namespaces.values()) == {f"OrderPlatform/{environment}"}


def test_a_published_metric_carries_the_environments_namespace(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = aws.handler("OrdersPublisherFunction", monkeypatch)
    capsys.readouterr()
    handler(load_event("orders-stream-delivered.json"), LambdaContext(function_name="OrdersPublisherFunction"))
    (record,) = [r for r in emitted(capsys.readouterr().out) if "OrdersDelivered" in r]
    assert [m["Namespace"] for m in record["_aws"]["CloudWatchMetrics"]] == ["OrderPlatform/dev"]


def test_a_replayed_delivery_is_published_again_but_not_counted_again(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event("orders-stream-delivered.json")
    change = event["Records"][0]["dynamodb"]
    change["OldImage"] = copy.deepcopy(change["NewImage"])  # already delivered: tools/ops.py replay asks again
    change["NewImage"]["republishRequestedAt"] = {"S": "2026-11-26T01:00:00.000Z"}
    handler = aws.handler("OrdersPublisherFunction", monkeypatch)
    from platform_core.observability import logger

    logs = io.StringIO()
    logger.registered_handler.stream = logs  # type: ignore[attr-defined]
    capsys.readouterr()
    assert handler(event, LambdaContext(function_name="OrdersPublisherFunction")) == {"batchItemFailures": []}
    published = [r for r in emitted(logs.getvalue()) if r.get("message") == "event published"]
    assert [r["event_type"] for r in published] == ["order-delivered-event"]
    assert metric_values(capsys.readouterr().out, "OrdersDelivered") == []
