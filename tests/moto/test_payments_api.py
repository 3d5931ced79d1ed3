"""Each payments route against moto tables, through the real handler: every status code of the contract."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from devstack.aws import Fault
from tests.support.lambda_env import ApiRequest, AwsHarness, LambdaContext, Response, api_event

GOOD_CARD = {"number": "4242 4242 4242 4242", "cvt": 123, "expiry": "12/30"}
ORDER_ID = "01JD0000000000000000000001"


def open_payment(aws: AwsHarness, user: str = "alice", order_id: str = ORDER_ID, bill: str = "2000") -> None:
    aws.client("dynamodb").put_item(
        TableName=aws.physical_id("PaymentsTable"),
        Item={
            "userId": {"S": user},
            "orderId": {"S": order_id},
            "bill": {"N": bill},
            "status": {"S": "pending"},
            "createdAt": {"S": "2026-11-25T12:00:00.000Z"},
            "updatedAt": {"S": "2026-11-25T12:00:00.000Z"},
            "correlationId": {"S": "c"},
        },
    )


@pytest.fixture
def pay(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch):
    def pay(card=None, *, order_id=ORDER_ID, user="alice", headers=None, raw_body=None) -> Response:
        request = ApiRequest(
            user=user,
            path_params={"orderId": order_id},
            body={"creditCardDetails": card or GOOD_CARD} if raw_body is None else None,
            raw_body=raw_body,
            headers=headers,
        )
        event = api_event("pay-order.json", request)
        return Response.of(aws.invoke("PayOrderFunction", event, monkeypatch))

    return pay


@pytest.fixture
def read(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch):
    def read(route: str, *, user="alice", **kwargs) -> Response:
        function, sample = {
            "get": ("GetPaymentFunction", "get-payment.json"),
            "list": ("ListPaymentsFunction", "list-payments.json"),
        }[route]
        return Response.of(aws.invoke(function, api_event(sample, ApiRequest(user=user, **kwargs)), monkeypatch))

    return read


def test_pay_with_a_good_card_is_200_paid_with_brand_and_last4(aws: AwsHarness, pay):
    open_payment(aws)
    response = pay()
    assert response.status == 200
    payment = response.body["data"]
    assert payment["status"] == "paid"
    assert payment["card"] == {"brand": "visa", "last4": "4242"}
    assert payment["declineReason"] is None
    assert payment["bill"] == 2000
    stored = aws.items("PaymentsTable")[0]
    assert stored["status"] == "paid"
    assert "4242424242424242" not in json.dumps(stored, default=str)
    assert "123" not in json.dumps(stored["card"])


@pytest.mark.parametrize(
    ("card", "reason"),
    [
        ({**GOOD_CARD, "number": "4000000000000002"}, "card_declined"),
        ({**GOOD_CARD, "number": "4000 0000 0000 9995"}, "insufficient_funds"),
        ({**GOOD_CARD, "expiry": "01/20"}, "expired_card"),
        ({**GOOD_CARD, "expiry": "1/31/2020"}, "expired_card"),
    ],
)
def test_sandbox_declines_are_402_problems_carrying_the_payment(aws: AwsHarness, pay, card, reason):
    open_payment(aws)
    response = pay(card)
    assert response.status == 402
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.body["payment"]["status"] == "declined"
    assert response.body["payment"]["declineReason"] == reason
    assert aws.items("PaymentsTable")[0]["status"] == "declined"


@pytest.mark.parametrize(
    "card",
    [
        {**GOOD_CARD, "number": "4242 4242 4242 4241"},  # Luhn
        {**GOOD_CARD, "number": "42424242424"},  # too short
        {**GOOD_CARD, "number": "4242x4242x4242x4242"},
        {**GOOD_CARD, "number": 4242424242424242},
        {**GOOD_CARD, "cvt": 12},
        {**GOOD_CARD, "cvt": "12345"},
        {**GOOD_CARD, "expiry": "13/30"},
        {**GOOD_CARD, "expiry": "2/30/2030"},
        {**GOOD_CARD, "expiry": "tomorrow"},
        {"number": "4242424242424242", "expiry": "12/30"},
    ],
)
def test_malformed_card_is_422_and_payment_stays_pending(aws: AwsHarness, pay, card):
    open_payment(aws)
    response = pay(card)
    assert response.status == 422
    assert response.body["errors"]
    assert aws.items("PaymentsTable")[0]["status"] == "pending"
    assert "4242424242424241" not in json.dumps(response.body)


@pytest.mark.parametrize("cvv_name", ["cvv", "cvc"])
def test_cvv_and_cvc_are_accepted_for_cvt(aws: AwsHarness, pay, cvv_name):
    open_payment(aws)
    card = {"number": "5555555555554444", "expiry": "12/2030", cvv_name: "1234"}
    response = pay(card)
    assert response.status == 200
    assert response.body["data"]["card"] == {"brand": "mastercard", "last4": "4444"}


def test_paying_twice_is_409(aws: AwsHarness, pay):
    open_payment(aws)
    assert pay().status == 200
    response = pay()
    assert response.status == 409
    assert "paid" in response.body["detail"]


@pytest.mark.parametrize("status", ["declined", "voided", "refunded"])
def test_paying_a_settled_payment_is_409(aws: AwsHarness, pay, status):
    open_payment(aws)
    aws.client("dynamodb").update_item(
        TableName=aws.physical_id("PaymentsTable"),
        Key={"userId": {"S": "alice"}, "orderId": {"S": ORDER_ID}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status}},
    )
    assert pay().status == 409


def test_paying_unknown_or_foreign_payment_is_404(aws: AwsHarness, pay):
    open_payment(aws, user="bob")
    assert pay(user="alice").status == 404
    assert pay(order_id="01JD0000000000000000000099").status == 404
    assert aws.items("PaymentsTable")[0]["status"] == "pending"


def test_concurrent_pays_charge_once(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch):
    """Pays at once on the real conditional writes; tests/e2e/test_concurrency.py sends them over HTTP."""
    open_payment(aws)
    handler = aws.handler("PayOrderFunction", monkeypatch)

    def attempt(_: int) -> int:
        request = ApiRequest(path_params={"orderId": ORDER_ID}, body={"creditCardDetails": GOOD_CARD})
        event = api_event("pay-order.json", request)
        return handler(event, LambdaContext())["statusCode"]

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(attempt, range(8)))
    assert statuses.count(200) == 1
    assert set(statuses) == {200, 409}
    # The card was charged once: the sandbox processor's own record (what tests/e2e cannot see).
    assert [entry["kind"] for entry in aws.items("CardSandboxTable")] == ["charge"]
    assert aws.items("PaymentsTable")[0]["status"] == "paid"


def test_idempotency_key_replays_the_payment_and_the_decline(aws: AwsHarness, pay):
    open_payment(aws)
    declined_card = {**GOOD_CARD, "number": "4000000000000002"}
    first = pay(declined_card, headers={"Idempotency-Key": "pay-1"})
    again = pay(declined_card, headers={"Idempotency-Key": "pay-1"})
    assert first.status == again.status == 402
    assert first.body == again.body
    other = pay(GOOD_CARD, headers={"Idempotency-Key": "pay-1"})
    assert other.status == 409


def test_body_that_is_not_json_is_400(aws: AwsHarness, pay):
    open_payment(aws)
    assert pay(raw_body="{not json").status == 400


def test_get_payment_and_404_for_others(aws: AwsHarness, read):
    open_payment(aws)
    mine = read("get", path_params={"orderId": ORDER_ID})
    assert mine.status == 200
    assert mine.body["data"]["status"] == "pending"
    assert mine.body["data"]["card"] is None
    assert read("get", user="bob", path_params={"orderId": ORDER_ID}).status == 404


def test_list_payments_paginates_newest_first(aws: AwsHarness, read):
    ids = [f"01JD00000000000000000000{n:02d}" for n in range(5)]
    for order_id in ids:
        open_payment(aws, order_id=order_id)
    open_payment(aws, user="bob", order_id="01JD0000000000000000000077")
    first = read("list", query={"limit": "3"})
    second = read("list", query={"limit": "3", "nextToken": first.body["nextToken"]})
    seen = [p["orderId"] for p in first.body["data"] + second.body["data"]]
    assert seen == ids[::-1]
    assert second.body["nextToken"] is None
    assert read("list", query={"limit": "1000"}).status == 400


# Digits of other scripts: U+FF10.. (full-width) and U+0660.. (Arabic-Indic).
FULL_WIDTH = {ord("0") + i: 0xFF10 + i for i in range(10)}
ARABIC_INDIC = {ord("0") + i: 0x0660 + i for i in range(10)}


@pytest.mark.parametrize(
    ("card", "field"),
    [
        # The decline test card in full-width digits was approved and stored with a full-width last4.
        ({**GOOD_CARD, "number": "4000000000000002".translate(FULL_WIDTH)}, "number"),
        ({**GOOD_CARD, "number": "4242424242424242".translate(ARABIC_INDIC)}, "number"),
        ({**GOOD_CARD, "number": "4242424242424242\n"}, "number"),
        ({**GOOD_CARD, "number": "4242 4242 4242 4242\n"}, "number"),
        ({**GOOD_CARD, "cvt": "123".translate(FULL_WIDTH)}, "cvt"),
        ({**GOOD_CARD, "cvt": "123\n"}, "cvt"),
        ({**GOOD_CARD, "expiry": "12/30".translate(ARABIC_INDIC)}, "expiry"),
        ({**GOOD_CARD, "expiry": "12/30\n"}, "expiry"),
    ],
)
def test_card_digits_are_ascii_only_and_the_422_names_the_field_without_echoes(aws: AwsHarness, pay, card, field):
    open_payment(aws)
    response = pay(card)
    assert response.status == 422, response.body
    assert [e["field"] for e in response.body["errors"]] == [f"creditCardDetails.{field}"]
    assert f"creditCardDetails.{field}" in response.body["detail"]
    text = json.dumps(response.body, ensure_ascii=False)
    assert str(card[field]).strip() not in text
    for internal in ("invalid literal", "int()", "base 10", "Traceback"):
        assert internal not in text
    assert aws.items("PaymentsTable")[0]["status"] == "pending"


@pytest.mark.parametrize(
    "other_card",
    [
        {**GOOD_CARD, "number": "5555 0000 0008 4242"},  # another card with the same last4 and expiry
        {**GOOD_CARD, "cvt": 999},
        {**GOOD_CARD, "expiry": "11/30"},
    ],
)
def test_the_same_idempotency_key_with_another_card_is_409_never_a_replay(aws: AwsHarness, pay, other_card):
    open_payment(aws)
    first = pay(GOOD_CARD, headers={"Idempotency-Key": "pay-card"})
    assert first.status == 200
    other = pay(other_card, headers={"Idempotency-Key": "pay-card"})
    assert other.status == 409, other.body
    assert pay(GOOD_CARD, headers={"Idempotency-Key": "pay-card"}).body == first.body  # the same card replays


def test_the_same_card_written_differently_replays(aws: AwsHarness, pay):
    open_payment(aws)
    first = pay(GOOD_CARD, headers={"Idempotency-Key": "pay-same"})
    again = pay(
        {"number": "4242-4242-4242-4242", "cvv": "123", "expiry": "12/2030"}, headers={"Idempotency-Key": "pay-same"}
    )
    assert again.status == first.status == 200
    assert again.body == first.body


def test_the_idempotency_record_holds_neither_the_card_number_nor_a_plain_hash_of_it(aws: AwsHarness, pay):
    import hashlib

    open_payment(aws)
    assert pay(GOOD_CARD, headers={"Idempotency-Key": "pay-stored"}).status == 200
    stored = json.dumps(aws.items("IdempotencyTable"), default=str)
    for secret in ("4242424242424242", "4242 4242 4242 4242"):
        assert secret not in stored
        assert hashlib.sha256(secret.encode()).hexdigest() not in stored
        assert hashlib.md5(secret.encode()).hexdigest() not in stored  # noqa: S324 - looking for it, not using it


def test_pay_with_a_key_while_the_fingerprint_key_is_unreadable_is_503_and_charges_nothing(aws: AwsHarness, pay):
    open_payment(aws)
    aws.server.faults.inject(
        Fault(service="secretsmanager", operation="GetSecretValue", status=500, code="InternalFailure")
    )
    response = pay(GOOD_CARD, headers={"Idempotency-Key": "pay-no-secret"})
    aws.server.faults.clear()
    assert response.status == 503, response.body
    assert response.headers["Retry-After"].isdigit()
    assert aws.items("PaymentsTable")[0]["status"] == "pending"
    assert pay(GOOD_CARD, headers={"Idempotency-Key": "pay-no-secret"}).status == 200
