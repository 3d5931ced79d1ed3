"""Every payments write is safe to repeat: through the real handlers against moto, each conditional write is
applied and its answer lost (botocore retries it, and the retry's condition fails against the write itself),
or fails with a 5xx before it is applied. The request that made the write carries on as if it had been
answered; a client repeating a request with its Idempotency-Key after a 503 gets that request's own result.
"""

import dataclasses
import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

from devstack.aws import Fault
from tests.moto.test_payments_api import GOOD_CARD, ORDER_ID, open_payment
from tests.moto.test_payments_races import DECLINED_CARD, Interposed, cancel_event, ledger, payment
from tests.support.lambda_env import ApiRequest, AwsHarness, LambdaContext, Response, api_event
from tests.support.lost_answers import LoseAnswers, writes_to

Handler = Callable[[dict[str, Any], Any], Any]


class PayFunction:
    """PayOrderFunction in one execution environment; its repository's client can lose answers."""

    def __init__(self, aws: AwsHarness, monkeypatch: pytest.MonkeyPatch) -> None:
        self.handler = aws.handler("PayOrderFunction", monkeypatch)
        self.module = sys.modules["payments.api"]
        self.processor = Interposed(self.module.deps.processor)
        # PaymentsDeps is frozen: the processor is swapped by rebuilding it (as test_payments_races does).
        monkeypatch.setattr(self.module, "deps", dataclasses.replace(self.module.deps, processor=self.processor))

    def lose(self, status: str, times: int = 1) -> LoseAnswers:
        return LoseAnswers(self.module.dynamodb, writes_to(status), times)

    def pay(self, card: dict[str, Any] | None = None, key: str | None = None) -> Response:
        headers = {"Idempotency-Key": key} if key else None
        request = ApiRequest(path_params={"orderId": ORDER_ID}, body={"creditCardDetails": card or GOOD_CARD})
        event = api_event("pay-order.json", ApiRequest(**{**request.__dict__, "headers": headers}))
        if key is None:
            event["headers"].pop("Idempotency-Key", None)
            event["multiValueHeaders"].pop("Idempotency-Key", None)
        return Response.of(self.handler(event, LambdaContext(function_name="PayOrderFunction")))


@pytest.fixture
def fn(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch) -> PayFunction:
    open_payment(aws)
    return PayFunction(aws, monkeypatch)


def metric_total(output: str, name: str) -> float:
    """The sum of metric `name` over the EMF lines a handler printed (Powertools Metrics)."""
    total = 0.0
    for line in output.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "_aws" in record and name in record:
            values = record[name]
            total += sum(values) if isinstance(values, list) else values
    return total


@pytest.mark.parametrize("status", ["processing", "paid"])
def test_a_pay_whose_write_was_applied_and_its_answer_lost_is_paid(aws: AwsHarness, fn: PayFunction, status: str):
    lost = fn.lose(status)
    response = fn.pay()
    assert lost.lost == 1, "the write went through and its answer was lost"
    assert response.status == 200, response.body
    assert response.body["data"]["status"] == "paid"
    assert payment(aws)["status"] == "paid"
    assert len(fn.processor.charges) == 1
    assert ledger(aws) == {"charge": 1}


def test_a_declined_pay_whose_record_lost_its_answer_is_402(aws: AwsHarness, fn: PayFunction):
    lost = fn.lose("declined")
    response = fn.pay(DECLINED_CARD)
    assert lost.lost == 1
    assert response.status == 402, response.body
    assert response.body["payment"]["declineReason"] == "card_declined"
    assert payment(aws)["status"] == "declined"


@pytest.mark.parametrize("status", ["processing", "paid"])
def test_a_pay_repeated_with_its_key_after_every_answer_was_lost_gets_its_own_result(
    aws: AwsHarness, fn: PayFunction, status: str
):
    lost = fn.lose(status, times=100)  # every attempt the SDK makes: the request answers 503
    first = fn.pay(key="pay-once")
    assert lost.lost > 1
    lost.remaining = 0
    assert first.status == 503, first.body
    retry = fn.pay(key="pay-once")
    assert retry.status == 200, retry.body
    assert retry.body["data"]["status"] == "paid"
    assert payment(aws)["status"] == "paid"
    assert ledger(aws) == {"charge": 1}, "the retry carried on with its own claim: the card is charged once"


def test_another_request_still_finds_a_lost_answer_claim_taken(aws: AwsHarness, fn: PayFunction):
    lost = fn.lose("processing", times=100)
    assert fn.pay(key="first").status == 503
    lost.remaining = 0
    other = fn.pay(key="second")
    assert other.status == 409, "another request's claim is not this one's"
    assert fn.processor.charges == []


@pytest.mark.parametrize("status", ["processing", "paid"])
def test_a_5xx_before_the_write_is_retried_and_paid(aws: AwsHarness, fn: PayFunction, status: str):
    aws.server.faults.inject(Fault("dynamodb", "UpdateItem", status=500, code="InternalServerError", times=1))
    response = fn.pay()
    assert response.status == 200, response.body
    assert payment(aws)["status"] == "paid"
    assert ledger(aws) == {"charge": 1}


class InboxFunction:
    def __init__(self, aws: AwsHarness, monkeypatch: pytest.MonkeyPatch) -> None:
        self.handler = aws.handler("PaymentsInboxFunction", monkeypatch)
        self.module = sys.modules["payments.inbox"]

    def cancel(self) -> dict[str, Any]:
        return self.handler(cancel_event(), LambdaContext(function_name="PaymentsInboxFunction"))


def mark_paid(aws: AwsHarness) -> None:
    aws.client("dynamodb").update_item(
        TableName=aws.physical_id("PaymentsTable"),
        Key={"userId": {"S": "alice"}, "orderId": {"S": ORDER_ID}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "paid"}},
    )


@pytest.mark.parametrize(("target", "metric"), [("voided", "PaymentsVoided"), ("refunded", "PaymentsRefunded")])
def test_a_cancel_whose_write_lost_its_answer_counts_it_once(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], target: str, metric: str
):
    open_payment(aws)
    if target == "refunded":
        mark_paid(aws)
    inbox = InboxFunction(aws, monkeypatch)
    lost = LoseAnswers(inbox.module.dynamodb, writes_to(target))
    capsys.readouterr()
    assert inbox.cancel() == {"batchItemFailures": []}
    assert lost.lost == 1
    assert payment(aws)["status"] == target
    assert metric_total(capsys.readouterr().out, metric) == 1, "the change made is the change counted"
    if target == "refunded":
        assert ledger(aws) == {"refund": 1}
