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
from tests.support.sam_template import ROOT

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


def answer_statements(monkeypatch: pytest.MonkeyPatch, errors: dict[str, str]) -> list[str]:
    """BatchExecuteStatement answers the statement of each order in ``errors`` with that error code in its
    response (not applied), as DynamoDB does for one throttled statement; the other statements run. moto
    itself never answers a per-statement error. Returns the order ids answered so, one per answer."""
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.batch_execute_statement
    answered: list[str] = []

    def batch_execute_statement(self: Any, statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        def order_of(statement: dict[str, Any]) -> str | None:
            values = [next(iter(p.values())) for p in statement.get("Parameters", [])]
            return next((v for v in values if v in errors), None)

        run = [s for s in statements if order_of(s) is None]
        results = iter(original(self, run) if run else [])
        responses = []
        for statement in statements:
            order_id = order_of(statement)
            if order_id is None:
                responses.append(next(results))
            else:
                answered.append(order_id)
                responses.append({"Error": {"Code": errors[order_id], "Message": "injected"}})
        return responses

    monkeypatch.setattr(DynamoDBBackend, "batch_execute_statement", batch_execute_statement)
    return answered


def deliver(aws: AwsHarness, orders: list[tuple[str, str]], machine: str = "") -> dict[str, Any]:
    """Start one delivery execution of ``orders`` (user, order id); the execution once it has ended."""
    from orders.delivery import StepFunctionsDeliveryScheduler
    from orders.repository import delivered_statement

    sfn = aws.client("stepfunctions")
    statement = delivered_statement(aws.physical_id("OrdersTable"))
    scheduler = StepFunctionsDeliveryScheduler(sfn, machine or aws.physical_id("DeliveryStateMachine"), statement, 0)
    for user, order_id in orders:
        scheduler.begin(f"msg-{order_id}")
        scheduler.schedule(user, order_id, f"corr-{order_id}")
    assert scheduler.flush() == set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = [e for e in sfn.list_executions(stateMachineArn=scheduler.state_machine_arn)["executions"]]
        if done and done[0]["status"] != "RUNNING":
            return dict(sfn.describe_execution(executionArn=done[0]["executionArn"]))
        time.sleep(0.05)
    raise AssertionError("the delivery execution is still running")


def states_entered(aws: AwsHarness, execution: dict[str, Any]) -> list[str]:
    history = aws.client("stepfunctions").get_execution_history(executionArn=execution["executionArn"], maxResults=1000)
    return [e["stateEnteredEventDetails"]["name"] for e in history["events"] if "stateEnteredEventDetails" in e]


def test_a_statement_throttled_inside_the_batch_is_retried_until_its_order_is_delivered(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch
):
    """DynamoDB answers one statement ThrottlingError inside a successful BatchExecuteStatement: that order is
    retried on its own (and its retry throttled once more, then backed off), not left confirmed."""
    for order_id in ("o-1", "o-throttled", "o-3"):
        seed(aws, order_id, "confirmed")
    seed(aws, "o-cancelled", "cancelled")
    answered = answer_statements(
        monkeypatch, {"o-throttled": "ThrottlingError", "o-cancelled": "ConditionalCheckFailed"}
    )
    retry = aws.server.faults.inject(
        Fault(service="dynamodb", operation="ExecuteStatement", status=400, code="ThrottlingException", times=1)
    )
    orders = [("alice", "o-1"), ("alice", "o-throttled"), ("alice", "o-cancelled"), ("alice", "o-3")]
    execution = deliver(aws, orders)
    assert execution["status"] == "SUCCEEDED"
    assert answered == ["o-throttled", "o-cancelled"]
    assert retry.hits == 1
    assert statuses(aws) == {
        "o-1": "delivered",
        "o-throttled": "delivered",
        "o-3": "delivered",
        "o-cancelled": "cancelled",
    }
    assert "RetryEachStatement" in states_entered(aws, execution)


def test_failed_conditions_alone_are_each_orders_outcome_and_cost_no_retry(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch
):
    seed(aws, "o-confirmed", "confirmed")
    seed(aws, "o-cancelled", "cancelled")
    answer_statements(monkeypatch, {"o-cancelled": "ConditionalCheckFailed", "o-missing": "ConditionalCheckFailed"})
    execution = deliver(aws, [("alice", "o-cancelled"), ("alice", "o-missing"), ("alice", "o-confirmed")])
    assert execution["status"] == "SUCCEEDED"
    assert statuses(aws) == {"o-confirmed": "delivered", "o-cancelled": "cancelled"}
    entered = states_entered(aws, execution)
    assert entered == ["WaitForDelivery", "MarkDelivered", "AnyStatementFailed", "Delivered"]
    # The cost model counts the same path (bench/cost.py): these states, plus one for the end.
    from bench.cost import transitions_per_execution

    definition = json.loads((ROOT / "statemachine" / "delivery.asl.json").read_text())
    assert transitions_per_execution(definition) == (len(entered) + 1, entered)


def test_a_statement_that_keeps_failing_fails_the_execution_and_only_its_order_stays_confirmed(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch
):
    """Its retries run out: the execution fails (what DeliveryFailedAlarm counts) instead of succeeding with an
    order left confirmed. The template's definition with its retries cut to one quick try each, so the test
    does not sit through minutes of back-off."""
    definition = json.loads((ROOT / "statemachine" / "delivery.asl.json").read_text())
    inner = definition["States"]["RetryEachStatement"]["ItemProcessor"]["States"]["MarkOneDelivered"]
    for retrier in inner["Retry"]:
        retrier.update(IntervalSeconds=1, MaxAttempts=min(retrier["MaxAttempts"], 1))
    sfn = aws.client("stepfunctions")
    machine = sfn.describe_state_machine(stateMachineArn=aws.physical_id("DeliveryStateMachine"))
    quick = sfn.create_state_machine(
        name="delivery-quick", definition=json.dumps(definition), roleArn=machine["roleArn"]
    )
    seed(aws, "o-fine", "confirmed")
    seed(aws, "o-stuck", "confirmed")
    answer_statements(monkeypatch, {"o-stuck": "InternalServerError"})
    aws.server.faults.inject(
        Fault(service="dynamodb", operation="ExecuteStatement", status=500, code="InternalServerError")
    )
    execution = deliver(aws, [("alice", "o-fine"), ("alice", "o-stuck")], machine=quick["stateMachineArn"])
    aws.server.faults.clear()
    assert execution["status"] == "FAILED"
    assert statuses(aws) == {"o-fine": "delivered", "o-stuck": "confirmed"}


def test_a_failed_condition_on_the_retry_is_that_orders_outcome_not_a_failure(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch
):
    """The order was throttled in the batch, then cancelled before its own retry: the retry's
    ConditionalCheckFailedException is caught, not retried, and the execution succeeds."""
    seed(aws, "o-raced", "confirmed")
    answer_statements(monkeypatch, {"o-raced": "ThrottlingError"})
    refused = aws.server.faults.inject(
        Fault(
            service="dynamodb",
            operation="ExecuteStatement",
            code="ConditionalCheckFailedException",
            status=400,
            times=1,
        )
    )
    execution = deliver(aws, [("alice", "o-raced")])
    assert execution["status"] == "SUCCEEDED"
    assert refused.hits == 1
    assert statuses(aws) == {"o-raced": "confirmed"}  # as the failed condition left it (moto applies nothing)
    assert states_entered(aws, execution)[-1] == "NotConfirmed"
