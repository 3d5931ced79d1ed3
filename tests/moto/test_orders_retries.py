"""Every orders write is safe to repeat: through the real handlers against moto, the cancel and the payment
result's transition are applied and their answers lost (botocore retries, and the retry's condition fails
against the write itself), or fail with a 5xx first. Each is made, answered and counted once."""

import copy
import sys
from typing import Any

import pytest

from devstack.aws import Fault
from tests.moto.test_payments_retries import metric_total
from tests.support.lambda_env import ApiRequest, AwsHarness, LambdaContext, Response, api_event, load_event
from tests.support.lost_answers import LoseAnswers, writes_to

ORDER_ID = "01JD0000000000000000000000"  # the sample events' order


def put_order(aws: AwsHarness, status: str = "created") -> None:
    aws.client("dynamodb").put_item(
        TableName=aws.physical_id("OrdersTable"),
        Item={
            "userId": {"S": "alice"},
            "orderId": {"S": ORDER_ID},
            "bill": {"N": "2000"},
            "status": {"S": status},
            "createdAt": {"S": "2026-11-25T12:00:00.000Z"},
            "updatedAt": {"S": "2026-11-25T12:00:00.000Z"},
            "correlationId": {"S": "c"},
        },
    )


def order_status(aws: AwsHarness) -> str:
    (item,) = aws.items("OrdersTable")
    return str(item["status"])


def cancel(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, lose: int = 0) -> tuple[Response, LoseAnswers]:
    handler = aws.handler("CancelOrderFunction", monkeypatch)
    lost = LoseAnswers(sys.modules["orders.api"].repo.table.client, writes_to("cancelled"), lose)
    event = api_event("cancel-order.json", ApiRequest(path_params={"orderId": ORDER_ID}))
    return Response.of(handler(event, LambdaContext(function_name="CancelOrderFunction"))), lost


def payment_processed(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, lose: int = 0) -> tuple[Any, LoseAnswers]:
    handler = aws.handler("OrdersInboxFunction", monkeypatch)
    lost = LoseAnswers(sys.modules["orders.inbox"].deps.store.table.client, writes_to("confirmed"), lose)
    event = copy.deepcopy(load_event("orders-inbox-payment-processed.json"))
    return handler(event, LambdaContext(function_name="OrdersInboxFunction")), lost


@pytest.mark.parametrize("lose", [0, 1])
def test_a_cancel_whose_answer_was_lost_is_200_cancelled_and_counted_once(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], lose: int
):
    put_order(aws)
    capsys.readouterr()
    response, lost = cancel(aws, monkeypatch, lose)
    assert lost.lost == lose
    assert response.status == 200, response.body
    assert response.body["data"]["status"] == "cancelled"
    assert order_status(aws) == "cancelled"
    assert metric_total(capsys.readouterr().out, "OrdersCancelled") == 1


def test_a_cancel_after_a_5xx_is_retried_and_cancelled(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch):
    put_order(aws)
    aws.server.faults.inject(Fault("dynamodb", "UpdateItem", status=500, code="InternalServerError", times=1))
    response, _ = cancel(aws, monkeypatch)
    assert response.status == 200, response.body
    assert order_status(aws) == "cancelled"


@pytest.mark.parametrize("lose", [0, 1])
def test_a_payment_result_whose_answer_was_lost_confirms_once_and_starts_delivery(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], lose: int
):
    put_order(aws)
    capsys.readouterr()
    result, lost = payment_processed(aws, monkeypatch, lose)
    assert lost.lost == lose
    assert result == {"batchItemFailures": []}
    assert order_status(aws) in ("confirmed", "delivered")  # the delivery execution may have run already
    assert metric_total(capsys.readouterr().out, "OrdersConfirmed") == 1
    machine = aws.physical_id("DeliveryStateMachine")
    executions = aws.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"]
    assert len(executions) == 1 and executions[0]["name"].startswith(ORDER_ID), executions  # named after its orders


def test_a_payment_result_after_a_5xx_is_retried_and_confirms(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch):
    put_order(aws)
    aws.server.faults.inject(Fault("dynamodb", "UpdateItem", status=500, code="InternalServerError", times=1))
    result, _ = payment_processed(aws, monkeypatch)
    assert result == {"batchItemFailures": []}
    assert order_status(aws) in ("confirmed", "delivered")
