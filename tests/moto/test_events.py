"""Stream publishers (the outbox) and SQS consumers, each against moto, from the sample events."""

import copy
import json
from collections.abc import Callable

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from devstack.aws import Fault
from tests.support.catalogue import MALFORMED_PAYMENT_CREATE, assert_event
from tests.support.lambda_env import AwsHarness, LambdaContext, load_event


def invoke(aws: AwsHarness, monkeypatch, function: str, event: dict) -> dict:
    return aws.handler(function, monkeypatch)(event, LambdaContext(function_name=function))


def envelopes(aws: AwsHarness, queue: str) -> list[dict]:
    """The events published to the queue, each checked against the event catalogue."""
    events = [json.loads(json.loads(m["Body"])["Message"]) for m in aws.receive_all(queue)]
    for event in events:
        assert_event(event)
    return events


def test_order_created_publishes_payment_create_event(aws: AwsHarness, monkeypatch):
    result = invoke(aws, monkeypatch, "OrdersPublisherFunction", load_event("orders-stream-created.json"))
    assert result == {"batchItemFailures": []}
    (event,) = envelopes(aws, "PaymentsInbox")
    assert event["type"] == "payment-create-event"
    assert event["source"] == "orders"
    assert event["correlationId"] == "sample-correlation-id"
    assert event["data"] == {"orderId": "01JD0000000000000000000000", "userId": "alice", "bill": 2000}
    assert set(event) == {"id", "type", "source", "time", "correlationId", "data"}


def test_order_cancelled_reaches_payments_and_delivered_reaches_nobody_yet(aws: AwsHarness, monkeypatch):
    invoke(aws, monkeypatch, "OrdersPublisherFunction", load_event("orders-stream-cancelled.json"))
    invoke(aws, monkeypatch, "OrdersPublisherFunction", load_event("orders-stream-delivered.json"))
    assert [e["type"] for e in envelopes(aws, "PaymentsInbox")] == ["order-cancelled-event"]


def test_payment_processed_reaches_orders_only(aws: AwsHarness, monkeypatch):
    invoke(aws, monkeypatch, "PaymentsPublisherFunction", load_event("payments-stream-declined.json"))
    (event,) = envelopes(aws, "OrdersInbox")
    assert event["type"] == "payment-processed-event"
    assert event["data"]["status"] == "declined"
    assert event["data"]["declineReason"] == "card_declined"
    assert aws.receive_all("PaymentsInbox") == []


def test_a_change_without_a_new_status_publishes_nothing(aws: AwsHarness, monkeypatch):
    event = load_event("orders-stream-cancelled.json")
    record = event["Records"][0]["dynamodb"]
    record["OldImage"] = copy.deepcopy(record["NewImage"])
    invoke(aws, monkeypatch, "OrdersPublisherFunction", event)
    assert aws.receive_all("PaymentsInbox") == []


@pytest.mark.parametrize(
    "case",
    [
        ("orders-stream-created.json", "OrdersPublisherFunction", "PaymentsInbox", "payment-create-event"),
        ("orders-stream-cancelled.json", "OrdersPublisherFunction", "PaymentsInbox", "order-cancelled-event"),
        ("payments-stream-paid.json", "PaymentsPublisherFunction", "OrdersInbox", "payment-processed-event"),
    ],
)
def test_a_replay_request_republishes_the_current_status(aws: AwsHarness, monkeypatch, case):
    """tools/ops.py replay sets republishRequestedAt: the item's status is published again, as if just reached."""
    sample, function, queue, event_type = case
    event = load_event(sample)
    record = event["Records"][0]
    record["eventName"] = "MODIFY"
    ddb = record["dynamodb"]
    ddb["OldImage"] = copy.deepcopy(ddb["NewImage"])
    ddb["NewImage"]["republishRequestedAt"] = {"S": "2026-11-26T01:00:00.000Z"}
    assert invoke(aws, monkeypatch, function, event) == {"batchItemFailures": []}
    (published,) = envelopes(aws, queue)
    assert published["type"] == event_type
    # The same replay request seen again (a later, unrelated change) publishes nothing more.
    ddb["OldImage"] = copy.deepcopy(ddb["NewImage"])
    invoke(aws, monkeypatch, function, event)
    assert aws.receive_all(queue) == []


def test_sns_failure_reports_the_record_for_retry(aws: AwsHarness, monkeypatch):
    aws.server.faults.inject(
        Fault(service="sns", operation="PublishBatch", status=500, code="InternalError", times=100)
    )
    # A batch whose every record failed is a function error: the stream retries all of it.
    with pytest.raises(BatchProcessingError):
        invoke(aws, monkeypatch, "OrdersPublisherFunction", load_event("orders-stream-created.json"))
    aws.server.faults.clear()
    assert aws.receive_all("PaymentsInbox") == []
    invoke(aws, monkeypatch, "OrdersPublisherFunction", load_event("orders-stream-created.json"))
    assert [e["type"] for e in envelopes(aws, "PaymentsInbox")] == ["payment-create-event"]


def payment_items(aws: AwsHarness) -> list[dict]:
    return aws.items("PaymentsTable")


def test_payment_create_event_opens_one_pending_payment_even_twice(aws: AwsHarness, monkeypatch):
    event = load_event("payments-inbox-payment-create.json")
    assert invoke(aws, monkeypatch, "PaymentsInboxFunction", event) == {"batchItemFailures": []}
    assert invoke(aws, monkeypatch, "PaymentsInboxFunction", event) == {"batchItemFailures": []}
    (payment,) = payment_items(aws)
    assert payment["status"] == "pending"
    assert payment["bill"] == 2000
    assert payment["correlationId"] == "sample-correlation-id"


def test_cancel_before_the_payment_exists_leaves_it_voided(aws: AwsHarness, monkeypatch):
    invoke(aws, monkeypatch, "PaymentsInboxFunction", load_event("payments-inbox-order-cancelled.json"))
    invoke(aws, monkeypatch, "PaymentsInboxFunction", load_event("payments-inbox-payment-create.json"))
    (payment,) = payment_items(aws)
    assert payment["status"] == "voided"


@pytest.mark.parametrize(("before", "after"), [("pending", "voided"), ("paid", "refunded"), ("declined", "declined")])
def test_cancel_settles_the_payment(aws: AwsHarness, monkeypatch, before: str, after: str):
    invoke(aws, monkeypatch, "PaymentsInboxFunction", load_event("payments-inbox-payment-create.json"))
    aws.client("dynamodb").update_item(
        TableName=aws.physical_id("PaymentsTable"),
        Key={"userId": {"S": "alice"}, "orderId": {"S": "01JD0000000000000000000000"}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": before}},
    )
    cancel = load_event("payments-inbox-order-cancelled.json")
    invoke(aws, monkeypatch, "PaymentsInboxFunction", cancel)
    invoke(aws, monkeypatch, "PaymentsInboxFunction", cancel)  # a duplicate changes nothing more
    assert payment_items(aws)[0]["status"] == after


def test_malformed_message_is_reported_and_the_rest_processed(aws: AwsHarness, monkeypatch):
    event = load_event("payments-inbox-payment-create.json")
    good = event["Records"][0]
    bad = {**copy.deepcopy(good), "messageId": "bad-1", "body": "{not json"}
    half = {**copy.deepcopy(good), "messageId": "bad-2", "body": json.dumps({"Type": "Notification", "Message": "{}"})}
    result = invoke(aws, monkeypatch, "PaymentsInboxFunction", {"Records": [bad, good, half]})
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad-1"}, {"itemIdentifier": "bad-2"}]}
    assert len(payment_items(aws)) == 1


def seed_order(aws: AwsHarness, status: str) -> None:
    aws.client("dynamodb").put_item(
        TableName=aws.physical_id("OrdersTable"),
        Item={
            "userId": {"S": "alice"},
            "orderId": {"S": "01JD0000000000000000000000"},
            "bill": {"N": "2000"},
            "status": {"S": status},
            "createdAt": {"S": "2026-11-25T12:00:00.000Z"},
            "updatedAt": {"S": "2026-11-25T12:00:00.000Z"},
        },
    )


def order_status(aws: AwsHarness) -> str:
    return aws.items("OrdersTable")[0]["status"]


def executions(aws: AwsHarness) -> list[dict]:
    sfn = aws.client("stepfunctions")
    return sfn.list_executions(stateMachineArn=aws.physical_id("DeliveryStateMachine"))["executions"]


def test_paid_confirms_the_order_and_starts_one_delivery(aws: AwsHarness, monkeypatch):
    seed_order(aws, "created")
    event = load_event("orders-inbox-payment-processed.json")
    assert invoke(aws, monkeypatch, "OrdersInboxFunction", event) == {"batchItemFailures": []}
    assert invoke(aws, monkeypatch, "OrdersInboxFunction", event) == {"batchItemFailures": []}
    (execution,) = executions(aws)  # the message twice: the same batch, the same execution
    described = aws.client("stepfunctions").describe_execution(executionArn=execution["executionArn"])
    assert [o["orderId"] for o in json.loads(described["input"])["orders"]] == ["01JD0000000000000000000000"]
    assert order_status(aws) in ("confirmed", "delivered")


def test_declined_declines_the_order(aws: AwsHarness, monkeypatch):
    seed_order(aws, "created")
    event = load_event("orders-inbox-payment-processed.json")
    body = json.loads(event["Records"][0]["body"])
    message = json.loads(body["Message"])
    message["data"]["status"] = "declined"
    body["Message"] = json.dumps(message)
    event["Records"][0]["body"] = json.dumps(body)
    invoke(aws, monkeypatch, "OrdersInboxFunction", event)
    assert order_status(aws) == "declined"
    assert executions(aws) == []


def test_paid_for_a_cancelled_order_leaves_it_cancelled(aws: AwsHarness, monkeypatch):
    seed_order(aws, "cancelled")
    invoke(aws, monkeypatch, "OrdersInboxFunction", load_event("orders-inbox-payment-processed.json"))
    assert order_status(aws) == "cancelled"
    assert executions(aws) == []


def test_failed_start_is_retried_with_the_message(aws: AwsHarness, monkeypatch):
    seed_order(aws, "created")
    event = load_event("orders-inbox-payment-processed.json")
    aws.server.faults.inject(
        Fault(service="stepfunctions", operation="StartExecution", status=500, code="ServiceUnavailable", times=100)
    )
    message_id = event["Records"][0]["messageId"]
    # The confirmation is made; the message fails (SQS delivers it again) because its delivery did not start.
    assert invoke(aws, monkeypatch, "OrdersInboxFunction", event) == {
        "batchItemFailures": [{"itemIdentifier": message_id}]
    }
    assert order_status(aws) == "confirmed"
    assert executions(aws) == []
    aws.server.faults.clear()
    assert invoke(aws, monkeypatch, "OrdersInboxFunction", event) == {"batchItemFailures": []}
    assert len(executions(aws)) == 1


@pytest.mark.parametrize(("receive_count", "dead_lettered"), [("1", False), ("5", True)])
def test_a_message_failing_its_last_delivery_is_counted_as_dead_lettered(
    aws: AwsHarness, monkeypatch, capsys, receive_count: str, dead_lettered: bool
):
    assert aws.environment("PaymentsInboxFunction")["INBOX_MAX_RECEIVE_COUNT"] == "5"
    good = load_event("payments-inbox-payment-create.json")["Records"][0]
    bad = {**copy.deepcopy(good), "messageId": "bad-1", "body": "{not json"}
    bad["attributes"]["ApproximateReceiveCount"] = receive_count
    capsys.readouterr()
    result = invoke(aws, monkeypatch, "PaymentsInboxFunction", {"Records": [bad, good]})
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    counted = [m for m in metrics if "InboxMessagesDeadLettered" in m]
    assert bool(counted) is dead_lettered


def with_message(record: dict, message_id: str, change: Callable[[dict], None]) -> dict:
    """A copy of an inbox record whose event (the SNS Message) has been changed by `change`."""
    record = copy.deepcopy(record)
    body = json.loads(record["body"])
    message = json.loads(body["Message"])
    change(message)
    body["Message"] = json.dumps(message)
    return {**record, "messageId": message_id, "body": json.dumps(body)}


@pytest.mark.parametrize("change", MALFORMED_PAYMENT_CREATE.values(), ids=MALFORMED_PAYMENT_CREATE.keys())
def test_an_event_its_model_refuses_fails_alone_and_writes_nothing(aws: AwsHarness, monkeypatch, change):
    good = load_event("payments-inbox-payment-create.json")["Records"][0]
    bad = with_message(good, "bad-1", change)
    cancelled_elsewhere = with_message(
        good, "other-order", lambda m: m["data"].update(orderId="01JD0000000000000000000001")
    )
    result = invoke(aws, monkeypatch, "PaymentsInboxFunction", {"Records": [bad, cancelled_elsewhere]})
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}
    assert [p["orderId"] for p in payment_items(aws)] == ["01JD0000000000000000000001"]


def test_a_payment_result_that_is_no_outcome_leaves_the_order_alone(aws: AwsHarness, monkeypatch):
    seed_order(aws, "created")
    good = load_event("orders-inbox-payment-processed.json")["Records"][0]
    refunded = with_message(good, "bad-1", lambda m: m["data"].update(status="refunded"))
    with pytest.raises(BatchProcessingError):  # the whole batch failed: it is retried, then dead-lettered
        invoke(aws, monkeypatch, "OrdersInboxFunction", {"Records": [refunded]})
    assert order_status(aws) == "created"
    assert executions(aws) == []


def test_an_event_of_a_type_nobody_here_handles_is_acknowledged(aws: AwsHarness, monkeypatch):
    good = load_event("payments-inbox-payment-create.json")["Records"][0]
    delivered = with_message(good, "delivered-1", lambda m: m.update(type="order-delivered-event"))
    assert invoke(aws, monkeypatch, "PaymentsInboxFunction", {"Records": [delivered]}) == {"batchItemFailures": []}
    assert payment_items(aws) == []


def test_informative_fields_may_be_missing_and_new_fields_are_ignored(aws: AwsHarness, monkeypatch):
    # A tolerant reader: an older or newer publisher's event still settles the payment.
    invoke(aws, monkeypatch, "PaymentsInboxFunction", load_event("payments-inbox-payment-create.json"))
    good = load_event("payments-inbox-order-cancelled.json")["Records"][0]

    def older_and_newer(m: dict) -> None:
        m["data"].pop("previousStatus")
        m["data"]["reason"] = "a field added later"
        m["schemaVersion"] = 2

    cancel = with_message(good, "tolerated", older_and_newer)
    assert invoke(aws, monkeypatch, "PaymentsInboxFunction", {"Records": [cancel]}) == {"batchItemFailures": []}
    assert payment_items(aws)[0]["status"] == "voided"
