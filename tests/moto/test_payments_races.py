"""Pay racing cancel, through the real handlers against moto: the card is never charged and then
voided without a refund.

The processor here is the function's own, wrapped so that something can happen at the worst moment:
between the approved charge and the write that records it (an order-cancelled event is consumed, or
DynamoDB starts throttling). Charges and refunds are counted as the processor sees them.
"""

import copy
import dataclasses
import json
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from devstack.aws import Fault
from tests.moto.test_payments_api import GOOD_CARD, ORDER_ID, open_payment
from tests.support.lambda_env import ApiRequest, AwsHarness, LambdaContext, Response, api_event, load_event

DECLINED_CARD = {**GOOD_CARD, "number": "4000000000000002"}


class Interposed:
    """The function's processor, with a hook run right after the charge was made."""

    def __init__(self, inner: Any, during_charge: Callable[[], None] | None = None) -> None:
        self.inner = inner
        self.during_charge = during_charge
        self.charges: list[tuple[str, Decimal]] = []
        self.refunds: list[tuple[str, Decimal]] = []

    def charge(self, *, idempotency_key: str, amount: Decimal, card: Any) -> Any:
        result = self.inner.charge(idempotency_key=idempotency_key, amount=amount, card=card)
        self.charges.append((idempotency_key, amount))
        if self.during_charge is not None:
            hook, self.during_charge = self.during_charge, None
            hook()
        return result

    def refund(self, **kwargs: Any) -> None:
        self.inner.refund(**kwargs)
        self.refunds.append((kwargs["idempotency_key"], kwargs["amount"]))

    def __getattr__(self, name: str) -> Any:  # anything else the service asks the processor
        return getattr(self.inner, name)


def cancel_event(order_id: str = ORDER_ID, user: str = "alice") -> dict[str, Any]:
    event = copy.deepcopy(load_event("payments-inbox-order-cancelled.json"))
    record = event["Records"][0]
    body = json.loads(record["body"])
    message = json.loads(body["Message"])
    message["data"].update(orderId=order_id, userId=user)
    body["Message"] = json.dumps(message)
    record["body"] = json.dumps(body)
    return event


class Functions:
    """The PaymentsInbox and PayOrder functions, imported once each, sharing one interposed processor."""

    def __init__(self, aws: AwsHarness, monkeypatch: pytest.MonkeyPatch) -> None:
        self.inbox = aws.handler("PaymentsInboxFunction", monkeypatch)
        inbox_module = sys.modules["payments.inbox"]
        self.pay_handler = aws.handler("PayOrderFunction", monkeypatch)
        api_module = sys.modules["payments.api"]
        self.processor = Interposed(api_module.deps.processor)
        for module in (api_module, inbox_module):
            monkeypatch.setattr(module, "deps", dataclasses.replace(module.deps, processor=self.processor))

    def pay(self, card: dict[str, Any] | None = None) -> Response:
        request = ApiRequest(path_params={"orderId": ORDER_ID}, body={"creditCardDetails": card or GOOD_CARD})
        event = api_event("pay-order.json", request)
        return Response.of(self.pay_handler(event, LambdaContext(function_name="PayOrderFunction")))

    def cancel(self) -> bool:
        """One delivery of the order-cancelled event: True when consumed, False when SQS will redeliver it."""
        from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

        try:
            result = self.inbox(cancel_event(), LambdaContext(function_name="PaymentsInboxFunction"))
        except BatchProcessingError:  # the whole batch (this one message) failed
            return False
        return not result["batchItemFailures"]


def payment(aws: AwsHarness) -> dict[str, Any]:
    (item,) = aws.items("PaymentsTable")
    return item


def ledger(aws: AwsHarness) -> dict[str, int]:
    """What the card sandbox recorded (its own table): entries by kind."""
    kinds = [entry["kind"] for entry in aws.items("CardSandboxTable")]
    return {kind: kinds.count(kind) for kind in sorted(set(kinds))}


def expire_claim(aws: AwsHarness, **more: str) -> None:
    """As if the charging function had died long ago (its claim is older than any function may run)."""
    values = {"claimedAt": "2026-01-01T00:00:00.000Z", **more}
    aws.client("dynamodb").update_item(
        TableName=aws.physical_id("PaymentsTable"),
        Key={"userId": {"S": "alice"}, "orderId": {"S": ORDER_ID}},
        UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(values))),
        ExpressionAttributeNames={f"#a{i}": name for i, name in enumerate(values)},
        ExpressionAttributeValues={f":v{i}": {"S": value} for i, value in enumerate(values.values())},
    )


def dead_claim_without_charge(aws: AwsHarness) -> None:
    """The function died after claiming and before the processor saw anything."""
    expire_claim(aws, status="processing", claimId="dead-claim")


@pytest.fixture
def fns(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch) -> Functions:
    open_payment(aws)
    return Functions(aws, monkeypatch)


def test_a_cancel_consumed_during_an_approved_charge_ends_refunded_exactly_once(aws: AwsHarness, fns: Functions):
    cancel_results: list[bool] = []
    fns.processor.during_charge = lambda: cancel_results.append(fns.cancel())
    response = fns.pay()
    # The cancel found the card being charged: it did not void the payment under the charger's feet.
    assert cancel_results == [False], "the cancel must wait for the charge to settle"
    assert response.status == 200
    assert fns.cancel()  # SQS redelivers it
    assert payment(aws)["status"] == "refunded"
    assert fns.cancel()  # a duplicate refunds nothing more at the processor
    assert len(fns.processor.charges) == 1
    (charge_key, _), (refund_key, amount) = fns.processor.charges[0], fns.processor.refunds[-1]
    assert amount == Decimal(2000)
    assert refund_key != charge_key, "a refund needs its own idempotency key at the processor"
    assert {key for key, _ in fns.processor.refunds} == {refund_key}
    assert ledger(aws) == {"charge": 1, "refund": 1}, "the processor holds one charge and one refund"


def test_a_cancel_during_a_declined_charge_ends_declined(aws: AwsHarness, fns: Functions):
    cancel_results: list[bool] = []
    fns.processor.during_charge = lambda: cancel_results.append(fns.cancel())
    assert fns.pay(DECLINED_CARD).status == 402
    assert fns.cancel()
    assert payment(aws)["status"] == "declined"
    assert payment(aws)["declineReason"] == "card_declined"
    assert fns.processor.refunds == []


def test_a_failed_write_after_an_approved_charge_is_refunded_when_the_order_is_cancelled(
    aws: AwsHarness, fns: Functions
):
    def throttle() -> None:
        aws.server.faults.inject(
            Fault("dynamodb", "UpdateItem", status=400, code="ProvisionedThroughputExceededException")
        )

    fns.processor.during_charge = throttle
    response = fns.pay()
    assert response.status == 503  # the client is told to retry; it cancels instead
    aws.server.faults.clear()
    assert payment(aws)["status"] == "processing"
    assert not fns.cancel(), "a fresh claim may still be recorded by its charger"
    assert payment(aws)["status"] == "processing"
    expire_claim(aws)  # the charger is long gone: the cancel asks the processor what happened
    assert fns.cancel()
    assert payment(aws)["status"] == "refunded"
    assert len(fns.processor.charges) == 1
    assert len(fns.processor.refunds) == 1
    assert ledger(aws) == {"charge": 1, "refund": 1}


def test_a_failed_write_after_an_approved_charge_is_settled_by_the_next_pay(aws: AwsHarness, fns: Functions):
    fns.processor.during_charge = lambda: aws.server.faults.inject(
        Fault("dynamodb", "UpdateItem", status=400, code="ProvisionedThroughputExceededException")
    )
    assert fns.pay().status == 503
    aws.server.faults.clear()
    assert fns.pay().status == 409  # still claimed: its charger may be about to record it
    expire_claim(aws)
    retry = fns.pay()
    assert retry.status == 200
    assert retry.body["data"]["status"] == "paid"
    assert retry.body["data"]["card"] == {"brand": "visa", "last4": "4242"}
    assert len(fns.processor.charges) == 1, "the retry asked the processor; it did not charge again"


def test_a_claim_whose_charge_never_happened_is_released_to_the_next_pay(aws: AwsHarness, fns: Functions):
    dead_claim_without_charge(aws)
    response = fns.pay(DECLINED_CARD)
    assert response.status == 402
    assert payment(aws)["status"] == "declined"
    assert len(fns.processor.charges) == 1


def test_a_cancel_of_a_claim_whose_charge_never_happened_voids_it(aws: AwsHarness, fns: Functions):
    dead_claim_without_charge(aws)
    assert fns.cancel()
    assert payment(aws)["status"] == "voided"
    assert fns.processor.refunds == []
