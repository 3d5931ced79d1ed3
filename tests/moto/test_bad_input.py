"""Bad input in request bodies (issue 10, "Bad input"): no number in any body is a 500, amounts are checked
exactly as written, and only the body parser's own failures are client errors (a ValueError from business
code is a 500, never a 4xx)."""

import json
import sys
from decimal import Decimal

import pytest

from tests.support.lambda_env import ApiRequest, AwsHarness, LambdaContext, Response, api_event

HUGE = "1" * 5000  # past Python's int <-> str limit (4300 digits)
ORDER_ID = "01JD0000000000000000000001"
CARD = {"number": "4242 4242 4242 4242", "cvt": 123, "expiry": "12/30"}


def create(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, raw_body: str, **kwargs) -> Response:
    event = api_event("create-order.json", ApiRequest(raw_body=raw_body, **kwargs))
    event["headers"].pop("Idempotency-Key", None)
    event["multiValueHeaders"].pop("Idempotency-Key", None)
    return Response.of(aws.invoke("CreateOrderFunction", event, monkeypatch))


def pay(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, raw_body: str) -> Response:
    event = api_event("pay-order.json", ApiRequest(path_params={"orderId": ORDER_ID}, raw_body=raw_body))
    return Response.of(aws.invoke("PayOrderFunction", event, monkeypatch))


def assert_422_naming(response: Response, field: str) -> None:
    assert response.status == 422, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    assert field in [e["field"] for e in response.body["errors"]], response.body


@pytest.mark.parametrize(
    ("raw_body", "field"),
    [
        (f'{{"bill": {HUGE}}}', "bill"),
        (f'{{"bill": -{HUGE}}}', "bill"),
        (f'{{"bill": {HUGE}.5}}', "bill"),
        (f'{{"bill": [{HUGE}]}}', "bill"),
        (f'{{"bill": 10, "tip": {HUGE}}}', "tip"),
    ],
    ids=["bill", "negative bill", "huge decimal", "in a list", "unknown field"],
)
def test_an_integer_thousands_of_digits_long_is_422_in_orders(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, raw_body: str, field: str
) -> None:
    assert_422_naming(create(aws, monkeypatch, raw_body), field)
    assert aws.items("OrdersTable") == []


@pytest.mark.parametrize(
    ("details", "field"),
    [
        ({**CARD, "cvt": "HUGE"}, "creditCardDetails.cvt"),
        ({**CARD, "cvv": "HUGE", "cvt": None}, "creditCardDetails.cvt"),
        ({**CARD, "number": "HUGE"}, "creditCardDetails.number"),
    ],
    ids=["cvt", "cvv", "number"],
)
def test_an_integer_thousands_of_digits_long_is_422_in_payments(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, details: dict, field: str
) -> None:
    body = json.dumps({"creditCardDetails": {k: v for k, v in details.items() if v is not None}})
    response = pay(aws, monkeypatch, body.replace('"HUGE"', HUGE))
    assert_422_naming(response, field)
    assert HUGE[:50] not in json.dumps(response.body)


def test_a_huge_integer_beside_a_valid_card_is_422(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_422_naming(pay(aws, monkeypatch, f'{{"creditCardDetails": {json.dumps(CARD)}, "x": {HUGE}}}'), "x")


@pytest.mark.parametrize(
    "bill",
    ["1.0000000000000000000000000001", "999999.9999999999999999999999999", "0.001", "10.125", "1E-3", "0.0099"],
)
def test_too_many_decimals_are_422_not_rounded(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, bill: str) -> None:
    assert_422_naming(create(aws, monkeypatch, f'{{"bill": {bill}}}'), "bill")
    assert aws.items("OrdersTable") == []


@pytest.mark.parametrize(
    ("written", "stored"),
    [("19.99", "19.99"), ("0.01", "0.01"), ("1000000", "1000000"), ("100.000", "100"), ("1E+2", "100"), ("1e2", "100")],
)
def test_exact_amounts_are_stored_exactly(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, written: str, stored: str
) -> None:
    response = create(aws, monkeypatch, f'{{"bill": {written}}}')
    assert response.status == 201, response.body
    (item,) = aws.items("OrdersTable")
    assert item["bill"] == Decimal(stored)
    assert response.body["data"]["bill"] == json.loads(stored)


def test_money_is_decimal_from_the_parser_to_the_table(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """No float between the JSON parser and the table: the service is handed the Decimal the parser made."""
    aws.handler("CreateOrderFunction", monkeypatch)
    service = sys.modules["orders.service"]
    seen: list[object] = []
    real = service.create_order

    def spy(repo, user_id, bill, *args, **kwargs):
        seen.append(bill)
        return real(repo, user_id, bill, *args, **kwargs)

    monkeypatch.setattr(service, "create_order", spy)
    handler = sys.modules["orders.api"].handler
    event = api_event("create-order.json", ApiRequest(raw_body='{"bill": 0.07}'))
    event["headers"].pop("Idempotency-Key", None)
    event["multiValueHeaders"].pop("Idempotency-Key", None)
    assert handler(event, LambdaContext())["statusCode"] == 201
    assert seen == [Decimal("0.07")]
    assert all(type(b) is Decimal for b in seen)


def test_the_payments_inbox_reads_amounts_as_decimal() -> None:
    from platform_core.inbox import parse_sqs_body

    envelope = parse_sqs_body(
        json.dumps(
            {
                "Type": "Notification",
                "Message": '{"id": "1", "type": "t", "source": "s", "time": "x", "data": {"bill": 0.07}}',
            }
        )
    )
    assert envelope["data"]["bill"] == Decimal("0.07")
    assert type(envelope["data"]["bill"]) is Decimal


def test_a_value_error_from_business_code_is_not_a_client_error(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.handler("CreateOrderFunction", monkeypatch)

    def broken(*_: object, **__: object) -> None:
        raise ValueError("Missing boundary in multipart/form-data content-type header")  # a library's words

    monkeypatch.setattr(sys.modules["orders.service"], "create_order", broken)
    event = api_event("create-order.json", ApiRequest(raw_body='{"bill": 10}'))
    event["headers"].pop("Idempotency-Key", None)
    event["multiValueHeaders"].pop("Idempotency-Key", None)
    response = Response.of(sys.modules["orders.api"].handler(event, LambdaContext()))
    assert response.status == 500, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "multipart" not in json.dumps(response.body)


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/jsonp",
        "application/json-patch+json",
        "text/json",
    ],
)
def test_bodies_that_are_not_json_are_415(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, content_type: str) -> None:
    response = create(aws, monkeypatch, "bill=10", headers={"Content-Type": content_type})
    assert response.status == 415, response.body
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("Content-Type", "Application/JSON"),
        ("Content-Type", "APPLICATION/JSON; charset=UTF-8"),
        ("content-type", "application/json;charset=utf-8"),
        ("CONTENT-TYPE", ' application/json ; Charset="UTF-8" '),
        ("Content-Type", "application/JSON; foo=bar; charset=utf-8"),
    ],
)
def test_media_types_are_case_insensitive_with_or_without_parameters(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, name: str, content_type: str
) -> None:
    """RFC 9110: type, subtype and parameter names are case-insensitive; parameters do not change the type."""
    for route in (create, pay):
        event = api_event(
            "create-order.json" if route is create else "pay-order.json",
            ApiRequest(
                path_params=None if route is create else {"orderId": ORDER_ID},
                raw_body=json.dumps({"bill": 10} if route is create else {"creditCardDetails": CARD}),
            ),
        )
        for headers in (event["headers"], event["multiValueHeaders"]):
            headers.pop("Content-Type", None)
            headers.pop("Idempotency-Key", None)
        event["headers"][name] = content_type
        event["multiValueHeaders"][name] = [content_type]
        function = "CreateOrderFunction" if route is create else "PayOrderFunction"
        response = Response.of(aws.invoke(function, event, monkeypatch))
        # The order is created; the pay request gets past the media type to the payment (none here: 404).
        assert response.status == (201 if route is create else 404), (content_type, response.body)


def nested(kind: str, depth: int) -> str:
    return "[" * depth + "]" * depth if kind == "arrays" else '{"a":' * depth + "1" + "}" * depth


# 5,000 levels make 3.11's json give up (RecursionError) but parse on 3.13; 33 parse everywhere. All are the
# same 400 on every Python, and a 32-deep body is read (then refused as the wrong shape, 422).
@pytest.mark.parametrize("kind", ["arrays", "objects"])
@pytest.mark.parametrize("depth", [5000, 33])
def test_a_body_nested_too_deeply_is_400(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, kind: str, depth: int
) -> None:
    response = create(aws, monkeypatch, nested(kind, depth))
    assert response.status == 400, response.body
    assert aws.items("OrdersTable") == []


@pytest.mark.parametrize("kind", ["arrays", "objects"])
def test_a_body_nested_to_the_limit_is_read(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    response = create(aws, monkeypatch, nested(kind, 32))
    assert response.status == 422, response.body


@pytest.mark.parametrize(
    "key",
    ["4242 4242 4242 4242", "4242424242424242", "x4242424242424242", "<script>alert(1)</script>", "bill ", "a.b", "é"],
)
def test_an_unknown_field_is_named_only_when_its_name_is_an_identifier(
    aws: AwsHarness, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    """Errors never contain a card number: a key that is no identifier is "an unknown field"."""
    for response in (
        create(aws, monkeypatch, json.dumps({"bill": 10, key: 1})),
        pay(aws, monkeypatch, json.dumps({"creditCardDetails": CARD, key: "4242424242424242"})),
    ):
        assert_422_naming(response, "an unknown field")
        text = json.dumps(response.body, ensure_ascii=False)
        assert key not in text and "4242" not in text, text
        assert response.body["detail"] == "Invalid request: an unknown field."


def test_an_unknown_field_with_an_identifier_name_is_named(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_422_naming(create(aws, monkeypatch, '{"bill": 10, "discount_2": 5}'), "discount_2")
    assert_422_naming(pay(aws, monkeypatch, json.dumps({"creditCardDetails": CARD, "tip": 1})), "tip")
