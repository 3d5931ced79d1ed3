"""At-least-once delivery: every event twice, late, concurrently, or in the wrong order changes nothing."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from devstack import LocalStack
from tests.resilience.support import (
    DECLINED_CARD,
    check_invariants,
    envelope,
    executions,
    item,
    publish,
    scan,
    user_api,
)


def _tap(stack: LocalStack) -> str:
    """A queue subscribed (raw, unfiltered) to both topics: a copy of every event the outbox publishes."""
    sqs, sns = stack.client("sqs"), stack.client("sns")
    url = sqs.create_queue(QueueName=f"tap-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for topic in ("OrdersTopic", "PaymentsTopic"):
        sns.subscribe(
            TopicArn=stack.physical_id(topic),
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "true"},
        )
    return url


def _tapped(stack: LocalStack, url: str) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    out = []
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def _snapshot(stack: LocalStack, users: set[str]) -> dict[str, list[dict[str, Any]]]:
    return {
        t: sorted((i for i in scan(stack, t) if i["userId"] in users), key=lambda i: i["orderId"])
        for t in ("OrdersTable", "PaymentsTable")
    }


def test_every_event_delivered_again_changes_nothing(stack: LocalStack):
    tap = _tap(stack)
    api = user_api(stack, "dup")
    users = {_sub(api.token)}
    ids = [api.create_id(bill=b) for b in (11, 12, 13, 14)]
    stack.inspect.wait_idle(60)
    assert api.pay(ids[0]).status_code == 200  # created -> confirmed -> delivered
    assert api.pay(ids[1], DECLINED_CARD).status_code == 402  # declined
    assert api.cancel(ids[2]).status_code == 200  # voided
    stack.inspect.wait_idle(60)
    assert api.pay(ids[3]).status_code == 200
    stack.inspect.wait_idle(60)
    assert api.cancel(ids[3]).status_code == 409  # delivered already
    stack.inspect.wait_idle(60)
    events = _tapped(stack, tap)
    types = sorted(e["type"] for e in events)
    assert types.count("payment-create-event") == 4
    assert types.count("payment-processed-event") == 3
    assert types.count("order-cancelled-event") == 1
    assert types.count("order-delivered-event") == 2
    before = _snapshot(stack, users)
    runs_before = len(executions(stack))

    # Every event again, twice more, concurrently: same ids, same data, same type attribute.
    topic = {"orders": "OrdersTopic", "payments": "PaymentsTopic"}
    with ThreadPoolExecutor(8) as pool:
        for e in events * 2:
            pool.submit(publish, stack, topic[e["source"]], e["type"], json.dumps(e))
    stack.inspect.wait_idle(60)
    assert _snapshot(stack, users) == before  # not even updatedAt moved
    assert len(executions(stack)) == runs_before
    assert [o["status"] for o in before["OrdersTable"]] == [
        {ids[0]: "delivered", ids[1]: "declined", ids[2]: "cancelled", ids[3]: "delivered"}[o["orderId"]]
        for o in before["OrdersTable"]
    ]
    check_invariants(stack)


def _sub(token: str) -> str:
    import jwt

    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


def _order_item(user: str, oid: str, status: str) -> dict[str, Any]:
    return {
        "userId": {"S": user},
        "orderId": {"S": oid},
        "bill": {"N": "30"},
        "status": {"S": status},
        "createdAt": {"S": "2026-11-25T12:00:00.000Z"},
        "updatedAt": {"S": "2026-11-25T12:00:00.000Z"},
        "correlationId": {"S": "out-of-order"},
    }


def test_cancel_before_the_payment_exists_voids_it_and_the_late_create_changes_nothing(stack: LocalStack):
    user, oid = f"ooo-{uuid.uuid4().hex[:8]}", f"01OOO{uuid.uuid4().hex[:21].upper()}"
    data = {"orderId": oid, "userId": user, "bill": 30}
    # The order as the stream would show it cancelled (its create event not delivered yet).
    stack.client("dynamodb").put_item(
        TableName=stack.physical_id("OrdersTable"), Item=_order_item(user, oid, "cancelled")
    )
    stack.inspect.wait_idle(60)
    voided = item(stack, "PaymentsTable", user, oid)
    assert voided is not None and voided["status"] == "voided"
    publish(stack, "OrdersTopic", "payment-create-event", envelope("payment-create-event", data))
    publish(stack, "OrdersTopic", "order-cancelled-event", envelope("order-cancelled-event", data))
    stack.inspect.wait_idle(60)
    assert item(stack, "PaymentsTable", user, oid) == voided
    check_invariants(stack)


def test_a_late_paid_result_leaves_a_cancelled_order_cancelled(stack: LocalStack):
    user, oid = f"late-{uuid.uuid4().hex[:8]}", f"01LAT{uuid.uuid4().hex[:21].upper()}"
    stack.client("dynamodb").put_item(
        TableName=stack.physical_id("OrdersTable"), Item=_order_item(user, oid, "cancelled")
    )
    stack.inspect.wait_idle(60)
    runs = len(executions(stack))
    paid = {"orderId": oid, "userId": user, "bill": 30, "status": "paid"}
    for _ in range(2):
        publish(stack, "PaymentsTopic", "payment-processed-event", envelope("payment-processed-event", paid))
    stack.inspect.wait_idle(60)
    order = item(stack, "OrdersTable", user, oid)
    assert order is not None and order["status"] == "cancelled"
    assert len(executions(stack)) == runs  # no delivery for a cancelled order
    check_invariants(stack)


def test_a_stale_declined_result_does_not_undo_a_confirmed_order(stack: LocalStack):
    api = user_api(stack, "stale")
    oid = api.create_id()
    stack.inspect.wait_idle(60)
    assert api.pay(oid).status_code == 200
    stack.inspect.wait_idle(60)
    declined = {"orderId": oid, "userId": _sub(api.token), "bill": 20, "status": "declined"}
    publish(stack, "PaymentsTopic", "payment-processed-event", envelope("payment-processed-event", declined))
    stack.inspect.wait_idle(60)
    assert api.order(oid).json()["data"]["status"] == "delivered"
    check_invariants(stack)
