"""A claim nobody comes back for is settled by the scheduled reconciler: the local stack runs the template's
Schedule event (every RECONCILE_INTERVAL_SECONDS here), with no client retrying or cancelling.

The claim is stranded as a charger that died after the card was charged leaves it: the payment processing
under its claim (past the lease), and the card sandbox holding the claim's approved (or declined) charge."""

from datetime import UTC, datetime, timedelta

import pytest

from payments.domain import CLAIM_LEASE, unsettled_shard
from platform_core.dynamo import serialize
from tests.support.chain import Chain


def strand(chain: Chain, order: dict, *, charged: bool, approved: bool = True) -> None:
    """What a charger that died (or whose last write failed, its client gone) leaves behind."""
    claimed_at = (datetime.now(UTC) - CLAIM_LEASE - timedelta(seconds=1)).isoformat(timespec="milliseconds")
    stack, order_id = chain.stack, order["id"]
    stack.client("dynamodb").update_item(
        TableName=stack.physical_id("PaymentsTable"),
        Key=serialize({"userId": chain.user, "orderId": order_id}),
        UpdateExpression="SET #s = :s, claimId = :c, claimedAt = :t, unsettledShard = :h, card = :card",
        ConditionExpression="#s = :pending",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues=serialize(
            {
                ":s": "processing",
                ":pending": "pending",
                ":c": "a-dead-charger",
                ":t": claimed_at.replace("+00:00", "Z"),
                ":h": unsettled_shard(order_id),
                ":card": {"brand": "visa", "last4": "4242"},
            }
        ),
    )
    if charged:
        entry = {"key": f"charge/{order_id}", "kind": "charge", "amount": order["bill"], "approved": approved}
        entry |= {"declineReason": None if approved else "card_declined", "last4": "4242", "at": claimed_at}
        stack.client("dynamodb").put_item(TableName=stack.physical_id("CardSandboxTable"), Item=serialize(entry))


@pytest.mark.parametrize(
    ("charged", "approved", "payment", "order_after"),
    [(True, True, "paid", "confirmed"), (True, False, "declined", "declined"), (False, False, "pending", "created")],
    ids=["approved", "declined", "never-charged"],
)
def test_a_stranded_claim_is_settled_by_the_schedule_and_the_order_follows(
    chain: Chain, charged: bool, approved: bool, payment: str, order_after: str
):
    order = chain.create_order()
    chain.wait_payment(order["id"], "pending")
    strand(chain, order, charged=charged, approved=approved)
    assert (chain.payment(order["id"]) or {}).get("status") == "processing"
    with chain.stack.inspect.hold_waits():  # a confirmed order is seen before delivery, however busy the machine
        settled = chain.wait_payment(order["id"], payment)  # nobody pays, retries or cancels: the schedule does
        if order_after != "created":
            chain.wait_order(order["id"], order_after)  # the reconciler's write published its event
    if payment == "pending":
        assert chain.pay(order["id"]).status_code == 200, "released: the next pay goes on"
    assert settled["card"] == {"brand": "visa", "last4": "4242"}
    runs = [line for line in chain.stack.function_logs("ReconcilerFunction") if '"payment reconciled"' in line]
    assert any(order["id"] in line for line in runs), "settled by the reconciler, not by a client"
