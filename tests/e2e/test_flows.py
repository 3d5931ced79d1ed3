"""What happens behind the routes: every branch of the event flow, and the invariants at quiescence."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Api
from tests.e2e.support import DECLINED_CARD, GOOD_CARD, Client, eventually, is_problem

pytestmark = pytest.mark.e2e


def delivery_timeout(api: Api) -> float:
    return api.delivery_delay + 30


def test_paid_order_is_confirmed_then_delivered(api: Api, alice: Client) -> None:
    order = alice.order_with_pending_payment()

    with api.deliveries_held():
        assert alice.pay(order["id"], GOOD_CARD).status_code == 200
        confirmed = alice.wait_order(order["id"], "confirmed")
    assert confirmed["updatedAt"] >= order["updatedAt"]
    delivered = alice.wait_order(order["id"], "delivered", timeout=delivery_timeout(api))
    assert delivered["bill"] == order["bill"]
    assert alice.payment(order["id"])["status"] == "paid"
    # delivered is final
    is_problem(alice.delete(f"/orders/{order['id']}"), 409)
    assert alice.order(order["id"])["status"] == "delivered"
    is_problem(alice.pay(order["id"], GOOD_CARD), 409)


def test_declined_payment_declines_the_order(alice: Client) -> None:
    order = alice.order_with_pending_payment()

    assert alice.pay(order["id"], DECLINED_CARD).status_code == 402

    alice.wait_order(order["id"], "declined")
    is_problem(alice.delete(f"/orders/{order['id']}"), 409)
    assert alice.order(order["id"])["status"] == "declined"
    assert alice.payment(order["id"])["status"] == "declined"


def test_cancelling_a_created_order_voids_its_payment(alice: Client) -> None:
    order = alice.order_with_pending_payment()

    r = alice.delete(f"/orders/{order['id']}")
    assert r.status_code == 200, r.text

    alice.wait_payment(order["id"], "voided")
    is_problem(alice.pay(order["id"], GOOD_CARD), 409)
    assert alice.payment(order["id"])["status"] == "voided"
    assert alice.order(order["id"])["status"] == "cancelled"


def test_cancelling_right_after_creation_still_leaves_exactly_one_voided_payment(api: Api, alice: Client) -> None:
    order = alice.create_order()
    assert alice.delete(f"/orders/{order['id']}").status_code == 200

    alice.wait_payment(order["id"], "voided")
    api.settle()
    assert [p["orderId"] for p in alice.all_items("payments", limit=100)].count(order["id"]) == 1
    assert alice.payment(order["id"])["status"] == "voided"
    assert alice.order(order["id"])["status"] == "cancelled"


def test_cancelling_a_confirmed_order_refunds_it_and_it_is_never_delivered(api: Api, alice: Client) -> None:
    order = alice.order_with_pending_payment()
    # A witness order confirmed after the cancellation: once it is delivered, the cancelled
    # order's delivery wait (started earlier, same length) has certainly run out.
    witness = alice.order_with_pending_payment()
    with api.deliveries_held():
        assert alice.pay(order["id"], GOOD_CARD).status_code == 200
        alice.wait_order(order["id"], "confirmed")
        r = alice.delete(f"/orders/{order['id']}")

    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "cancelled"
    alice.wait_payment(order["id"], "refunded")
    assert alice.pay(witness["id"], GOOD_CARD).status_code == 200
    alice.wait_order(witness["id"], "delivered", timeout=delivery_timeout(api))
    api.settle()
    assert alice.order(order["id"])["status"] == "cancelled"
    assert alice.payment(order["id"])["status"] == "refunded"
    again = alice.delete(f"/orders/{order['id']}")
    assert again.status_code == 200, again.text
    assert again.json()["data"]["status"] == "cancelled"


def test_paying_while_the_order_is_being_cancelled_ends_refunded_or_voided(api: Api, alice: Client) -> None:
    order = alice.order_with_pending_payment()

    assert alice.delete(f"/orders/{order['id']}").status_code == 200
    paid = alice.pay(order["id"], GOOD_CARD)  # races the order-cancelled-event

    assert paid.status_code in (200, 409), paid.text
    final = eventually(
        lambda: alice.payment(order["id"]),
        lambda p: p["status"] in ("voided", "refunded"),
        what="payment voided or refunded",
    )
    if paid.status_code == 200:
        assert final["status"] == "refunded"
    api.settle()
    assert alice.order(order["id"])["status"] == "cancelled"
    assert alice.payment(order["id"])["status"] in ("voided", "refunded")


# ---------------------------------------------------------------- invariants
def _violations(order: dict[str, Any], payment: dict[str, Any] | None) -> list[str]:
    """The contract's invariants at quiescence that the pair breaks (empty when none)."""
    if payment is None:
        return [f"order {order['id']} has no payment"]
    o, p = order["status"], payment["status"]
    rules = [
        (o in ("confirmed", "delivered") and p != "paid", "confirmed/delivered order without a paid payment"),
        (o == "declined" and p != "declined", "declined order without a declined payment"),
        (o == "cancelled" and p not in ("voided", "refunded", "declined"), "cancelled order with a live payment"),
        (p == "paid" and o not in ("confirmed", "delivered"), "paid payment of an order not confirmed/delivered"),
        (payment["bill"] != order["bill"], "payment bill differs from the order's"),
        (payment["userId"] != order["userId"], "payment user differs from the order's"),
    ]
    return [f"{order['id']} ({o}/{p}): {why}" for broken, why in rules if broken]


def test_invariants_hold_once_nothing_is_in_flight(api: Api, fresh: Client) -> None:
    c = fresh
    pending = c.create_order(1)
    delivered = c.order_with_pending_payment(2)
    declined = c.order_with_pending_payment(3)
    voided = c.order_with_pending_payment(4)
    refunded = c.order_with_pending_payment(5)
    raced = c.order_with_pending_payment(6)
    early_cancel = c.create_order(7)

    assert c.delete(f"/orders/{early_cancel['id']}").status_code == 200
    assert c.pay(delivered["id"], GOOD_CARD).status_code == 200
    assert c.pay(declined["id"], DECLINED_CARD).status_code == 402
    assert c.delete(f"/orders/{voided['id']}").status_code == 200
    with api.deliveries_held():
        assert c.pay(refunded["id"], GOOD_CARD).status_code == 200
        c.wait_order(refunded["id"], "confirmed")
        assert c.delete(f"/orders/{refunded['id']}").status_code == 200
    assert c.delete(f"/orders/{raced['id']}").status_code == 200
    assert c.pay(raced["id"], GOOD_CARD).status_code in (200, 409)

    expected = {
        pending["id"]: ({"created"}, {"pending"}),
        delivered["id"]: ({"confirmed", "delivered"} if not api.local else {"delivered"}, {"paid"}),
        declined["id"]: ({"declined"}, {"declined"}),
        voided["id"]: ({"cancelled"}, {"voided"}),
        refunded["id"]: ({"cancelled"}, {"refunded"}),
        raced["id"]: ({"cancelled"}, {"voided", "refunded"}),
        early_cancel["id"]: ({"cancelled"}, {"voided"}),
    }

    def snapshot() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        orders = {o["id"]: o for o in c.all_items("orders", limit=3)}
        payments = {p["orderId"]: p for p in c.all_items("payments", limit=3)}
        return orders, payments

    def settled(snap: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]) -> bool:
        orders, payments = snap
        return all(
            oid in orders and oid in payments and orders[oid]["status"] in os and payments[oid]["status"] in ps
            for oid, (os, ps) in expected.items()
        )

    api.settle()
    orders, payments = eventually(snapshot, settled, timeout=delivery_timeout(api), what="every order settled")

    assert set(orders) == set(expected)
    assert set(payments) == set(orders), "every order has exactly one payment"
    problems = [why for oid in orders for why in _violations(orders[oid], payments.get(oid))]
    assert problems == []
