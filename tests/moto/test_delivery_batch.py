"""Delivery in batches: one Step Functions execution per inbox batch of confirmed orders; after its Wait, one
BatchExecuteStatement marks every order that is still confirmed delivered, each order's outcome its own.

Against moto with the template's state machine (DeliveryDelaySeconds=0: executions run at once)."""

from __future__ import annotations

import copy
import json
import sys
import time
from typing import Any

import pytest

from devstack.aws import Fault
from tests.support.lambda_env import AwsHarness, LambdaContext, load_event

PAID = load_event("orders-inbox-payment-processed.json")["Records"][0]


def seed(aws: AwsHarness, order_id: str, status: str, user: str = "alice") -> None:
    aws.client("dynamodb").put_item(
        TableName=aws.physical_id("OrdersTable"),
        Item={
            "userId": {"S": user},
            "orderId": {"S": order_id},
            "bill": {"N": "2000"},
            "status": {"S": status},
            "createdAt": {"S": "2026-11-25T12:00:00.000Z"},
            "updatedAt": {"S": "2026-11-25T12:00:00.000Z"},
        },
    )


def paid(order_id: str, status: str = "paid", user: str = "alice") -> dict[str, Any]:
    """An OrdersInbox message: the payment of ``order_id`` was paid (or declined)."""
    record = copy.deepcopy(PAID)
    body = json.loads(record["body"])
    message = json.loads(body["Message"])
    message["id"] = f"event-{order_id}"
    message["data"].update(orderId=order_id, userId=user, status=status)
    body["Message"] = json.dumps(message)
    return {**record, "messageId": f"msg-{order_id}", "body": json.dumps(body)}


def statuses(aws: AwsHarness) -> dict[str, str]:
    return {i["orderId"]: i["status"] for i in aws.items("OrdersTable")}


def executions(aws: AwsHarness) -> list[dict[str, Any]]:
    sfn = aws.client("stepfunctions")
    return list(sfn.list_executions(stateMachineArn=aws.physical_id("DeliveryStateMachine"))["executions"])


def finished(aws: AwsHarness, count: int) -> list[dict[str, Any]]:
    """The executions once ``count`` of them have ended (moto runs them in threads of its own)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = [e for e in executions(aws) if e["status"] != "RUNNING"]
        if len(done) >= count:
            return done
        time.sleep(0.05)
    raise AssertionError(f"executions still running: {executions(aws)}")


def orders_of(aws: AwsHarness, execution: dict[str, Any]) -> list[str]:
    described = aws.client("stepfunctions").describe_execution(executionArn=execution["executionArn"])
    return [o["orderId"] for o in json.loads(described["input"])["orders"]]


def inbox(aws: AwsHarness, monkeypatch: Any) -> Any:
    return aws.handler("OrdersInboxFunction", monkeypatch)


def test_a_batch_of_confirmed_orders_is_one_execution_that_delivers_each(aws: AwsHarness, monkeypatch):
    ids = [f"01JD00000000000000000000{n:02d}" for n in range(4)]
    for order_id in ids:
        seed(aws, order_id, "created")
    records = [paid(ids[0]), paid(ids[1]), paid(ids[2], status="declined"), paid(ids[3])]
    assert inbox(aws, monkeypatch)({"Records": records}, LambdaContext()) == {"batchItemFailures": []}
    (execution,) = finished(aws, 1)
    assert execution["status"] == "SUCCEEDED"
    assert sorted(orders_of(aws, execution)) == [ids[0], ids[1], ids[3]]  # the declined one is no delivery
    assert statuses(aws) == {ids[0]: "delivered", ids[1]: "delivered", ids[2]: "declined", ids[3]: "delivered"}


def test_each_orders_outcome_is_its_own_and_a_redelivered_batch_is_harmless(aws: AwsHarness, monkeypatch):
    """Orders cancelled (or gone, or delivered) by the time the batch runs stay as they are; the others are
    delivered. Running the same batch again changes nothing."""
    from orders.delivery import StepFunctionsDeliveryScheduler
    from orders.repository import delivered_statement

    seed(aws, "o-confirmed-1", "confirmed")
    seed(aws, "o-cancelled", "cancelled")
    seed(aws, "o-confirmed-2", "confirmed", user="bob")
    seed(aws, "o-delivered", "delivered")
    sfn = aws.client("stepfunctions")
    scheduler = StepFunctionsDeliveryScheduler(
        sfn, aws.physical_id("DeliveryStateMachine"), delivered_statement(aws.physical_id("OrdersTable")), 0
    )
    batch = [("alice", "o-confirmed-1"), ("alice", "o-cancelled"), ("alice", "o-missing"), ("bob", "o-confirmed-2")]
    batch.append(("alice", "o-delivered"))
    for user, order_id in batch:
        scheduler.begin(f"msg-{order_id}")
        scheduler.schedule(user, order_id, f"corr-{order_id}")
    assert scheduler.flush() == set()
    (execution,) = finished(aws, 1)
    assert execution["status"] == "SUCCEEDED"
    after = statuses(aws)
    assert after == {
        "o-confirmed-1": "delivered",
        "o-cancelled": "cancelled",
        "o-confirmed-2": "delivered",
        "o-delivered": "delivered",
    }  # and o-missing was not created
    items = {i["orderId"]: i for i in aws.items("OrdersTable")}
    assert items["o-confirmed-1"]["correlationId"] == "corr-o-confirmed-1"
    assert items["o-confirmed-1"]["updatedAt"] != "2026-11-25T12:00:00.000Z"
    # The same execution input again (a redrive, or a batch that overlaps): nothing changes.
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    sfn.start_execution(stateMachineArn=execution["stateMachineArn"], name="again", input=described["input"])
    assert [e["status"] for e in finished(aws, 2)] == ["SUCCEEDED", "SUCCEEDED"]
    assert statuses(aws) == after


def test_the_same_batch_redelivered_starts_no_second_execution(aws: AwsHarness, monkeypatch):
    seed(aws, "01JD0000000000000000000001", "created")
    seed(aws, "01JD0000000000000000000002", "created")
    event = {"Records": [paid("01JD0000000000000000000001"), paid("01JD0000000000000000000002")]}
    handler = inbox(aws, monkeypatch)
    sys.modules["orders.inbox"].scheduler.delay_seconds = 3600  # still waiting when the batch comes again
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}  # SQS delivered the batch again
    (execution,) = executions(aws)
    assert execution["status"] == "RUNNING"
    aws.client("stepfunctions").stop_execution(executionArn=execution["executionArn"])


def test_more_than_25_orders_are_split_into_executions_of_at_most_25(aws: AwsHarness, monkeypatch):
    ids = [f"01JD00000000000000000000{n:02d}" for n in range(30)]
    for order_id in ids:
        seed(aws, order_id, "created")
    handler = inbox(aws, monkeypatch)
    assert handler({"Records": [paid(i) for i in ids]}, LambdaContext()) == {"batchItemFailures": []}
    done = finished(aws, 2)
    assert sorted(len(orders_of(aws, e)) for e in done) == [5, 25]
    assert set(statuses(aws).values()) == {"delivered"}


def test_a_throttled_start_fails_the_messages_of_its_orders_only_and_is_counted(
    aws: AwsHarness, monkeypatch, capsys: pytest.CaptureFixture[str]
):
    seed(aws, "01JD0000000000000000000001", "created")
    seed(aws, "01JD0000000000000000000002", "created")
    records = [paid("01JD0000000000000000000001"), paid("01JD0000000000000000000002", status="declined")]
    handler = inbox(aws, monkeypatch)
    aws.server.faults.inject(
        Fault(service="stepfunctions", operation="StartExecution", status=400, code="ThrottlingException")
    )
    capsys.readouterr()
    result = handler({"Records": records}, LambdaContext())
    aws.server.faults.clear()
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-01JD0000000000000000000001"}]}
    assert statuses(aws) == {"01JD0000000000000000000001": "confirmed", "01JD0000000000000000000002": "declined"}
    out = capsys.readouterr().out
    metrics = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    counted = [m["DeliveryStartThrottled"] for m in metrics if "DeliveryStartThrottled" in m]
    assert sum(sum(v) if isinstance(v, list) else v for v in counted) == 1  # what the alarm reads
    # SQS delivers the failed message again: the order is confirmed already, the delivery starts now.
    assert handler({"Records": [records[0]]}, LambdaContext()) == {"batchItemFailures": []}
    (execution,) = finished(aws, 1)
    assert statuses(aws)["01JD0000000000000000000001"] == "delivered"
    assert execution["status"] == "SUCCEEDED"
