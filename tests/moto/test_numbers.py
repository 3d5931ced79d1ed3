"""No number in a body causes a 500: every textual form of a bill is stored normalised (201) or refused (422).

A bill is judged by its exact value, whatever its spelling (exponent, sign, zero tail): the same amount is
accepted and stored the same way (DynamoDB numbers hold 38 digits: a zero tail past that must not reach it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.lambda_env import ApiRequest, AwsHarness, LambdaContext, Response, api_event

CENT = Decimal("0.01")


@pytest.fixture
def create(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Response]:
    """POST /orders through one warm execution environment of CreateOrderFunction."""
    handler = aws.handler("CreateOrderFunction", monkeypatch)

    def create(raw_body: str) -> Response:
        event = api_event("create-order.json", ApiRequest(raw_body=raw_body))
        event["headers"].pop("Idempotency-Key", None)
        event["multiValueHeaders"].pop("Idempotency-Key", None)
        return Response.of(handler(event, LambdaContext(function_name="CreateOrderFunction")))

    return create


def _valid_amount(text: str) -> bool:
    try:
        value = Decimal(text)
    except InvalidOperation:  # an exponent past Decimal's: 0, or beyond every limit
        return False
    return 0 < value <= 1_000_000 and value == value.quantize(CENT)


def _assert_judged_by_value(create: Callable[[str], Response], text: str, aws: AwsHarness | None = None) -> Any:
    response = create(f'{{"bill": {text}}}')
    if _valid_amount(text):
        assert response.status == 201, (text, response.body)
        bill = response.body["data"]["bill"]
        assert Decimal(str(bill)) == Decimal(text), (text, bill)
        return bill
    assert response.status == 422, (text, response.status, response.body)
    assert [e["field"] for e in response.body["errors"]] == ["bill"]
    return None


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("1." + "0" * 38, 1),
        ("1." + "0" * 60, 1),
        ("19.9" + "0" * 45, 19.9),
        ("1E+2", 100),
        ("1e2", 100),
        ("2e-0", 2),
        ("2E+0", 2),
        ("0.1e1", 1),
        ("12.5e-1", 1.25),
        ("1000000" + ".0" + "0" * 50, 1_000_000),
        ("0." + "0" * 40 + "1e42", 10),
        ("-0", None),
        ("-0.0", None),
        ("0.00e5", None),
        ("0e-7", None),
        ("-1E+2", None),
        ("1e-3", None),
        ("1.0001e1", None),
        ("1e7", None),
        ("1e999999999", None),
        ("1e-999999999", None),
        ("1e99999999999999999999", None),
        ("-1e99999999999999999999", None),
        ("1e-99999999999999999999", None),
        ("0e99999999999999999999", None),
        ("1" + "0" * 5000, None),
        ("1.000000000000000000000000000000000000001", None),
    ],
)
def test_each_textual_form_of_a_bill_is_201_normalised_or_422(aws: AwsHarness, create, text, stored):
    assert _assert_judged_by_value(create, text) == stored
    if stored is not None:  # stored as one plain number: the table holds no 38+ digit spelling
        (item,) = aws.items("OrdersTable")
        assert item["bill"] == Decimal(str(stored)) and len(str(item["bill"])) <= 10


_DIGITS = st.text("0123456789", min_size=1, max_size=50)
JSON_NUMBERS = st.builds(
    lambda sign, whole, fraction, exponent: f"{sign}{whole}{fraction}{exponent}",
    st.sampled_from(["", "-"]),
    st.one_of(st.just("0"), st.from_regex(r"[1-9][0-9]{0,8}", fullmatch=True)),
    st.one_of(st.just(""), _DIGITS.map(lambda d: "." + d)),
    st.one_of(
        st.just(""),
        st.builds(lambda e, s, n: f"{e}{s}{n}", st.sampled_from("eE"), st.sampled_from(["", "+", "-"]), _DIGITS),
    ),
)


def test_any_json_number_as_a_bill_is_judged_by_its_value(create):
    @settings(
        max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(JSON_NUMBERS)
    def check(text: str) -> None:
        json.loads(text)  # a JSON number, as the strategy means to write
        _assert_judged_by_value(create, text)

    check()
