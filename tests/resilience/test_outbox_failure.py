"""A poison stream record costs a page, not data: the template's mapping settings, applied by the local stack.

The publishers' event source mappings (template.yaml) retry a failing record MaximumRetryAttempts times,
bisecting the batch, then send it to OutboxFailureQueue and move on; `make replay` (tools/ops.py) rebuilds
the lost event from the table once the cause is fixed.
"""

from __future__ import annotations

import datetime as dt
import json

from devstack import LocalStack
from tests.resilience.support import check_invariants, drain, item, queue_url, scan, user_api, wait_for
from tools.ops import Target, redrive_events, replay


def _failure_messages(stack: LocalStack) -> list[dict]:
    return [json.loads(body) for body in drain(stack, "OutboxFailureQueue")]


def test_the_local_stack_applies_the_templates_stream_mapping_settings(stack: LocalStack):
    for publisher, table in (
        ("OrdersPublisherFunction", "OrdersTable"),
        ("PaymentsPublisherFunction", "PaymentsTable"),
    ):
        (source,) = stack.model.functions[publisher].stream_events
        assert 0 <= source.maximum_retry_attempts <= 100, "a failing record must not block its shard for ever"
        assert 60 <= source.maximum_record_age <= 24 * 3600
        assert source.bisect_on_error
        assert source.on_failure_destination == stack.model.queues["OutboxFailureQueue"].arn, table


def test_a_poison_record_goes_to_the_failure_queue_and_replay_restores_its_event(stack: LocalStack):
    api = user_api(stack, "poison")
    user = api.token and _user(api.token)
    ddb = stack.client("dynamodb")
    table = stack.physical_id("OrdersTable")
    poison_id = "01JPO1SON000000000000000000"
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    # An order the publisher cannot turn into an event (no bill): every attempt fails.
    ddb.put_item(
        TableName=table,
        Item={
            "userId": {"S": user},
            "orderId": {"S": poison_id},
            "status": {"S": "created"},
            "createdAt": {"S": now},
            "updatedAt": {"S": now},
            "correlationId": {"S": "poison"},
        },
    )
    good = api.create_id(bill=42)  # written after the poison, on the same stream
    stack.inspect.wait_idle(120)

    # The record behind the poison was published: the shard moved on.
    assert item(stack, "PaymentsTable", user, good)["status"] == "pending"
    assert item(stack, "PaymentsTable", user, poison_id) is None
    outcomes = [i.outcome for i in stack.invocations if i.function == "OrdersPublisherFunction"]
    retries = stack.model.functions["OrdersPublisherFunction"].stream_events[0].maximum_retry_attempts
    assert any(f"dropped 1 records after {retries} retries" in o for o in outcomes), outcomes[-5:]

    # The failed batch is described in OutboxFailureQueue (what OutboxFailureAlarm watches).
    messages = wait_for(lambda: _peek(stack), timeout=10, what="a message in OutboxFailureQueue")
    (failure,) = messages
    info = failure["DDBStreamBatchInfo"]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert info["batchSize"] == 1 and ":table/" + table + "/stream/" in info["streamArn"]
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")

    # The cause is fixed (the item gets its bill); the fix is no status change, so no event follows by itself.
    ddb.update_item(
        TableName=table,
        Key={"userId": {"S": user}, "orderId": {"S": poison_id}},
        UpdateExpression="SET bill = :bill",
        ExpressionAttributeValues={":bill": {"N": "7"}},
    )
    stack.inspect.wait_idle(60)
    assert item(stack, "PaymentsTable", user, poison_id) is None

    # make replay: the events of everything written since the failed record are published again.
    done = replay(
        Target(endpoint=stack.aws_endpoint, queues={q.logical_id: q.url for q in stack.model.queues.values()})
    )
    assert done.get(table, 0) >= 2  # the poison and the good order (at least)
    stack.inspect.wait_idle(60)
    restored = item(stack, "PaymentsTable", user, poison_id)
    assert restored is not None and restored["status"] == "pending" and restored["bill"] == 7
    # The good order's event, sent twice, made no second payment; the failure queue is empty.
    assert len([p for p in scan(stack, "PaymentsTable") if p["userId"] == user]) == 2
    assert _failure_messages(stack) == []
    check_invariants(stack)


def _peek(stack: LocalStack) -> list[dict]:
    sqs = stack.client("sqs")
    got = sqs.receive_message(
        QueueUrl=queue_url(stack, "OutboxFailureQueue"), MaxNumberOfMessages=10, VisibilityTimeout=0
    ).get("Messages", [])
    return [json.loads(m["Body"]) for m in got]


def _user(token: str) -> str:
    import jwt

    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


def test_event_delivery_dlq_is_redriven_by_receive_send_delete(stack: LocalStack):
    """SNS's own DLQ holds envelopes SNS could not deliver; start-message-move-task cannot move them."""
    user = "redrive-events"
    oid = "01JREDR1VE00000000000000000"
    topic = stack.model.topics["OrdersTopic"].arn
    message = {
        "orderId": oid,
        "userId": user,
        "bill": 5,
    }
    body = {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": topic,
        "Message": json.dumps(
            {
                "id": "evt-redrive-1",
                "type": "payment-create-event",
                "source": "orders",
                "time": "2026-11-26T00:00:00.000Z",
                "correlationId": "redrive",
                "data": message,
            }
        ),
        "MessageAttributes": {"type": {"Type": "String", "Value": "payment-create-event"}},
    }
    unroutable = {**body, "TopicArn": topic.replace("OrdersTopic", "NoSuchTopic")}
    sqs = stack.client("sqs")
    for doc in (body, unroutable):
        sqs.send_message(QueueUrl=queue_url(stack, "EventDeliveryDLQ"), MessageBody=json.dumps(doc))

    target = Target(endpoint=stack.aws_endpoint, queues={q.logical_id: q.url for q in stack.model.queues.values()})
    assert redrive_events(target) == (1, 1)
    stack.inspect.wait_idle(60)
    payment = item(stack, "PaymentsTable", user, oid)
    assert payment is not None and payment["status"] == "pending"
    # What no subscription takes stays for a person to look at.
    left = wait_for(lambda: drain(stack, "EventDeliveryDLQ"), timeout=10, what="the unroutable message")
    assert [json.loads(m)["TopicArn"] for m in left] == [unroutable["TopicArn"]]
