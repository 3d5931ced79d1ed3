"""Payments routes: the payment of an order, pay (sandbox outcomes, validation, idempotency), lists."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from tests.e2e.support import (
    DECLINED_CARD,
    EXPIRED_CARD,
    GOOD_CARD,
    NO_FUNDS_CARD,
    PAYMENT_STATUSES,
    Client,
    eventually,
    is_problem,
    parse_time,
    pay_body,
)

pytestmark = pytest.mark.e2e

PAYMENT_FIELDS = {"orderId", "userId", "bill", "status", "card", "declineReason", "createdAt", "updatedAt"}


def no_card_number(text: str, number: str) -> None:
    digits = re.sub(r"\D", "", number)
    assert digits not in re.sub(r"[\s-]", "", text), text
    assert number not in text, text


def test_payment_is_404_until_created_then_pending_for_the_same_bill(alice: Client) -> None:
    order = alice.create_order(123.45)

    first = alice.payment_response(order["id"])
    assert first.status_code in (200, 404), first.text
    if first.status_code == 404:
        is_problem(first, 404)

    payment = alice.wait_payment(order["id"], "pending")
    assert set(payment) == PAYMENT_FIELDS
    assert payment["orderId"] == order["id"]
    assert payment["userId"] == order["userId"]
    assert payment["bill"] == 123.45
    assert payment["card"] is None
    assert payment["declineReason"] is None
    parse_time(payment["createdAt"])
    parse_time(payment["updatedAt"])


def test_pay_returns_200_paid_with_brand_and_last4_only(alice: Client) -> None:
    order = alice.order_with_pending_payment()

    r = alice.pay(order["id"], GOOD_CARD)

    assert r.status_code == 200, r.text
    payment = r.json()["data"]
    assert payment["status"] == "paid"
    assert payment["card"] == {"brand": "visa", "last4": "4242"}
    assert payment["declineReason"] is None
    no_card_number(r.text, GOOD_CARD["number"])
    assert "cvt" not in r.text and "cvv" not in r.text
    stored = alice.payment(order["id"])
    assert stored["status"] == "paid"
    assert stored["card"] == {"brand": "visa", "last4": "4242"}


@pytest.mark.parametrize(
    "card",
    [
        {"number": "4242-4242-4242-4242", "cvv": "123", "expiry": "12/2030"},
        {"number": "4242424242424242", "cvc": 1234, "expiry": "1/15/2031"},
        {"number": "5555 5555 5555 4444", "cvt": "999", "expiry": "01/99"},
        {"number": "378282246310005", "cvt": 1234, "expiry": "12/30"},
    ],
)
def test_pay_accepts_every_documented_card_shape(alice: Client, card: dict[str, Any]) -> None:
    order = alice.order_with_pending_payment()

    r = alice.pay(order["id"], card)

    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "paid"
    assert r.json()["data"]["card"]["last4"] == re.sub(r"\D", "", card["number"])[-4:]
    no_card_number(r.text, card["number"])


@pytest.mark.parametrize(
    ("card", "reason"),
    [
        (DECLINED_CARD, "card_declined"),
        (NO_FUNDS_CARD, "insufficient_funds"),
        (EXPIRED_CARD, "expired_card"),
        ({"number": "4242424242424242", "cvt": 123, "expiry": "1/1/2020"}, "expired_card"),
    ],
)
def test_declined_payment_is_402_problem_carrying_the_payment(alice: Client, card: dict[str, Any], reason: str) -> None:
    order = alice.order_with_pending_payment()

    r = alice.pay(order["id"], card)

    body = is_problem(r, 402)
    payment = body["payment"]
    assert payment["orderId"] == order["id"]
    assert payment["status"] == "declined"
    assert payment["declineReason"] == reason
    no_card_number(r.text, card["number"])
    stored = alice.payment(order["id"])
    assert stored["status"] == "declined"
    assert stored["declineReason"] == reason


def test_paying_twice_is_409(alice: Client) -> None:
    order = alice.order_with_pending_payment()
    assert alice.pay(order["id"]).status_code == 200

    is_problem(alice.pay(order["id"]), 409)
    is_problem(alice.pay(order["id"], DECLINED_CARD), 409)
    assert alice.payment(order["id"])["status"] == "paid"


def test_paying_a_declined_payment_is_409(alice: Client) -> None:
    order = alice.order_with_pending_payment()
    assert alice.pay(order["id"], DECLINED_CARD).status_code == 402

    is_problem(alice.pay(order["id"], GOOD_CARD), 409)
    assert alice.payment(order["id"])["status"] == "declined"


MALFORMED: dict[str, list[Any]] = {
    "number": [
        pay_body(number="4242 4242 4242 4241"),  # Luhn fails
        pay_body(number="42424242424"),  # 11 digits
        pay_body(number="42424242424242424242"),  # 20 digits
        pay_body(number="4242 abcd 4242 4242"),
        pay_body(number=4242424242424242),
        pay_body(number=""),
        {"creditCardDetails": {"cvt": 123, "expiry": "12/30"}},
    ],
    "cvt": [
        pay_body(cvt=12),
        pay_body(cvt="12345"),
        pay_body(cvt="abc"),
        {"creditCardDetails": {"number": "4242424242424242", "expiry": "12/30"}},
    ],
    "expiry": [
        pay_body(expiry="13/30"),
        pay_body(expiry="00/30"),
        pay_body(expiry="12-30"),
        pay_body(expiry="tomorrow"),
        pay_body(expiry="2/30/2031"),
        {"creditCardDetails": {"number": "4242424242424242", "cvt": 123}},
    ],
    "shape": [
        {"creditCardDetails": "4242424242424242"},
        {"creditCardDetails": None},
        {},
        [],
    ],
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_card_is_422_and_leaves_payment_pending(alice: Client, kind: str) -> None:
    order = alice.order_with_pending_payment()

    for body in MALFORMED[kind]:
        r = alice.request("POST", f"/payments/pay/{order['id']}", body=json.dumps(body))

        problem = is_problem(r, 422)
        assert problem.get("errors"), (body, problem)
        details = body.get("creditCardDetails") if isinstance(body, dict) else None
        number = details.get("number") if isinstance(details, dict) else None
        digits = re.sub(r"\D", "", str(number or ""))
        if len(digits) >= 12:
            assert digits not in re.sub(r"[\s-]", "", r.text), r.text
        assert alice.payment(order["id"])["status"] == "pending", body
    # still payable
    assert alice.pay(order["id"]).status_code == 200


def test_pay_body_that_is_not_json_is_400(alice: Client) -> None:
    order = alice.order_with_pending_payment()
    is_problem(alice.request("POST", f"/payments/pay/{order['id']}", body="number=4242"), 400)
    assert alice.payment(order["id"])["status"] == "pending"


def test_pay_unknown_order_is_404(alice: Client) -> None:
    is_problem(alice.pay("01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404)
    is_problem(alice.pay("not-an-order"), 404)


def test_get_unknown_payment_is_404(alice: Client) -> None:
    is_problem(alice.payment_response("01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404)


def test_pay_idempotency_key_replays_the_same_response(alice: Client) -> None:
    order = alice.order_with_pending_payment()
    key = {"Idempotency-Key": f"pay-{uuid.uuid4()}"}

    first = alice.pay(order["id"], GOOD_CARD, headers=key)
    again = alice.pay(order["id"], GOOD_CARD, headers=key)

    assert first.status_code == 200, first.text
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    # without the key, a second pay is what it is: not pending any more
    is_problem(alice.pay(order["id"], GOOD_CARD), 409)


def test_pay_idempotency_key_replays_a_decline(alice: Client) -> None:
    order = alice.order_with_pending_payment()
    key = {"Idempotency-Key": f"pay-{uuid.uuid4()}"}

    first = alice.pay(order["id"], DECLINED_CARD, headers=key)
    again = alice.pay(order["id"], DECLINED_CARD, headers=key)

    assert first.status_code == again.status_code == 402, (first.text, again.text)
    assert again.json() == first.json()


def test_pay_idempotency_key_with_a_different_body_is_409(alice: Client) -> None:
    order = alice.order_with_pending_payment()
    key = {"Idempotency-Key": f"pay-{uuid.uuid4()}"}
    assert alice.pay(order["id"], GOOD_CARD, headers=key).status_code == 200

    other_card = {"number": "5555 5555 5555 4444", "cvt": 123, "expiry": "12/30"}
    is_problem(alice.pay(order["id"], other_card, headers=key), 409)
    assert alice.payment(order["id"])["card"]["last4"] == "4242"


def test_pay_idempotency_key_reused_for_another_order_never_answers_for_the_first(alice: Client) -> None:
    first = alice.order_with_pending_payment()
    second = alice.order_with_pending_payment()
    key = {"Idempotency-Key": f"pay-{uuid.uuid4()}"}
    assert alice.pay(first["id"], GOOD_CARD, headers=key).status_code == 200

    r = alice.pay(second["id"], GOOD_CARD, headers=key)

    if r.status_code == 409:
        is_problem(r, 409)
        assert alice.payment(second["id"])["status"] == "pending"
    else:
        assert r.status_code == 200, r.text
        assert r.json()["data"]["orderId"] == second["id"]
        assert alice.payment(second["id"])["status"] == "paid"


def test_list_payments_newest_first_and_paginated(fresh: Client) -> None:
    orders = [fresh.create_order(bill)["id"] for bill in range(1, 6)]
    for order_id in orders:
        fresh.wait_payment(order_id, "pending")

    default = fresh.get("/payments")
    assert default.status_code == 200, default.text
    assert set(default.json()) == {"data", "nextToken"}
    assert [p["orderId"] for p in default.json()["data"]] == orders[::-1]
    assert default.json()["nextToken"] is None

    pages = [p.json() for p in fresh.pages("payments", limit=2)]
    assert [p["orderId"] for page in pages for p in page["data"]] == orders[::-1]
    assert [len(page["data"]) for page in pages][:3] == [2, 2, 1]
    assert all(set(p) == PAYMENT_FIELDS for page in pages for p in page["data"])
    assert all(p["status"] in PAYMENT_STATUSES for page in pages for p in page["data"])


def test_list_payments_limit_one(fresh: Client) -> None:
    first = fresh.create_order()["id"]
    second = fresh.create_order()["id"]
    eventually(lambda: len(fresh.all_items("payments")) == 2, what="two payments")

    r = fresh.get("/payments", params={"limit": 1})
    assert r.status_code == 200, r.text
    assert [p["orderId"] for p in r.json()["data"]] == [second]
    nxt = fresh.get("/payments", params={"limit": 1, "nextToken": r.json()["nextToken"]})
    assert [p["orderId"] for p in nxt.json()["data"]] == [first]
