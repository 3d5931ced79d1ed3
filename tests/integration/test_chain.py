"""The event chain of the contract's "What happens behind the routes", end to end in the local stack."""

import json
import threading
from collections.abc import Callable

from devstack import LocalStack
from tests.support.chain import DECLINED_CARD, Chain, eventually, execution_orders, invariant_violations


def quiesce_and_check(chain: Chain) -> None:
    chain.stack.inspect.wait_idle(60)
    orders = chain.table_items("OrdersTable")
    payments = chain.table_items("PaymentsTable")
    assert invariant_violations(orders, payments) == []


def test_order_created_gets_a_pending_payment_for_its_bill(chain: Chain):
    order = chain.create_order(bill=123.45)
    payment = chain.wait_payment(order["id"], "pending")
    assert payment["bill"] == 123.45
    assert payment["userId"] == chain.user
    assert payment["card"] is None


def test_paid_order_is_confirmed_then_delivered(chain: Chain):
    order = chain.create_order()
    chain.wait_payment(order["id"])
    with chain.stack.inspect.hold_waits():  # confirmed is seen before delivery, however busy the machine
        paid = chain.pay(order["id"])
        assert paid.status_code == 200
        assert paid.json()["data"]["status"] == "paid"
        chain.wait_order(order["id"], "confirmed")
    delivered = chain.wait_order(order["id"], "delivered")
    assert delivered["updatedAt"] >= order["createdAt"]
    executions = chain.executions_of(order["id"])
    assert [e["status"] for e in executions] == ["SUCCEEDED"]
    quiesce_and_check(chain)


def test_declined_payment_declines_the_order(chain: Chain):
    order = chain.create_order()
    chain.wait_payment(order["id"])
    response = chain.pay(order["id"], DECLINED_CARD)
    assert response.status_code == 402
    assert response.json()["payment"]["declineReason"] == "card_declined"
    chain.wait_order(order["id"], "declined")
    assert chain.cancel(order["id"]).status_code == 409
    assert not chain.executions_of(order["id"])
    quiesce_and_check(chain)


def test_cancel_before_pay_voids_the_payment_and_blocks_paying(chain: Chain):
    order = chain.create_order()
    chain.wait_payment(order["id"])
    assert chain.cancel(order["id"]).json()["data"]["status"] == "cancelled"
    chain.wait_payment(order["id"], "voided")
    response = chain.pay(order["id"])
    assert response.status_code == 409
    quiesce_and_check(chain)


def test_cancel_after_pay_refunds_and_the_order_is_never_delivered(chain: Chain):
    order = chain.create_order()
    chain.wait_payment(order["id"])
    with chain.stack.inspect.hold_waits():  # the cancel comes before delivery, however busy the machine
        assert chain.pay(order["id"]).status_code == 200
        chain.wait_order(order["id"], "confirmed")
        assert chain.cancel(order["id"]).status_code == 200
    chain.wait_payment(order["id"], "refunded")
    # The delivery execution finds the order cancelled and ends quietly.
    execution = eventually(
        lambda: chain.executions_of(order["id"]),
        lambda found: bool(found) and found[0]["status"] != "RUNNING",
    )
    assert execution[0]["status"] == "SUCCEEDED"
    assert chain.order(order["id"])["status"] == "cancelled"
    quiesce_and_check(chain)


class HoldDeliveries:
    """Fault hooks that inject no fault: they hold every delivery to one function until released."""

    def __init__(self, function: str) -> None:
        self.function = function
        self.holding = threading.Event()
        self.released = threading.Event()

    def aws_fault(self, service: str, operation: str, user_agent: str, internal: bool) -> None:
        return None

    def arm_kill(self, function: str, kill: Callable[[], bool]) -> None:
        return None

    def observed(self, function: str, seconds: float) -> None:
        pass

    def refuse_delivery(self, function: str) -> None:
        if function == self.function:
            self.holding.set()
            self.released.wait()


def test_a_cancel_made_before_the_payment_exists_still_voids_it(chain: Chain):
    hold = HoldDeliveries("PaymentsInboxFunction")
    chain.stack.attach_hooks(hold)
    try:
        order = chain.create_order()
        hold.holding.wait()  # the payment-create-event has reached payments, whose consumer waits
        assert chain.payment(order["id"]) is None
        assert chain.cancel(order["id"]).status_code == 200
    finally:
        hold.released.set()
        chain.stack.attach_hooks(None)  # type: ignore[arg-type]
    chain.wait_payment(order["id"], "voided")
    quiesce_and_check(chain)


def publish(stack: LocalStack, topic: str, envelope: dict) -> None:
    stack.client("sns").publish(
        TopicArn=stack.physical_id(topic),
        Message=json.dumps(envelope),
        MessageAttributes={"type": {"DataType": "String", "StringValue": envelope["type"]}},
    )


def test_duplicate_messages_have_no_second_effect(chain: Chain):
    order = chain.create_order(bill=50)
    chain.wait_payment(order["id"])
    create_event = {
        "id": "dup-1",
        "type": "payment-create-event",
        "source": "orders",
        "time": order["createdAt"],
        "correlationId": "dup",
        "data": {"orderId": order["id"], "userId": chain.user, "bill": 50},
    }
    publish(chain.stack, "OrdersTopic", create_event)
    publish(chain.stack, "OrdersTopic", create_event)
    assert chain.pay(order["id"]).status_code == 200
    chain.wait_order(order["id"], "delivered")
    paid_event = {
        **create_event,
        "id": "dup-2",
        "type": "payment-processed-event",
        "source": "payments",
        "data": {**create_event["data"], "status": "paid", "declineReason": None},
    }
    publish(chain.stack, "PaymentsTopic", paid_event)
    publish(chain.stack, "PaymentsTopic", paid_event)
    chain.stack.inspect.wait_idle(60)
    mine = [p for p in chain.table_items("PaymentsTable") if p["orderId"] == order["id"]]
    assert [p["status"] for p in mine] == ["paid"]
    assert chain.order(order["id"])["status"] == "delivered"
    assert len(chain.executions_of(order["id"])) == 1
    quiesce_and_check(chain)


def test_malformed_message_goes_to_the_dlq_and_the_rest_are_processed(chain: Chain):
    sqs = chain.stack.client("sqs")
    dlq = chain.stack.physical_id("PaymentsInboxDLQ")
    before = chain.queue_depth("PaymentsInboxDLQ")
    sqs.send_message(QueueUrl=chain.stack.physical_id("PaymentsInbox"), MessageBody="{this is not an event")
    order = chain.create_order()
    chain.wait_payment(order["id"])
    eventually(lambda: chain.queue_depth("PaymentsInboxDLQ"), lambda depth: depth == before + 1)
    messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    assert "{this is not an event" in [m["Body"] for m in messages]
    for message in messages:
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])


def test_one_correlation_id_follows_an_order_through_every_function(chain: Chain):
    correlation_id = f"trace-{chain.user}"
    order = chain.create_order(headers={"X-Correlation-Id": correlation_id})
    chain.wait_payment(order["id"])
    assert chain.pay(order["id"], headers={"X-Correlation-Id": correlation_id}).status_code == 200
    chain.wait_order(order["id"], "delivered")
    chain.stack.inspect.wait_idle(60)
    touched = [
        "CreateOrderFunction",
        "OrdersPublisherFunction",
        "PaymentsInboxFunction",
        "PayOrderFunction",
        "PaymentsPublisherFunction",
        "OrdersInboxFunction",
    ]
    for function in touched:
        lines = [json.loads(line) for line in chain.stack.function_logs(function) if line.startswith('{"level"')]
        assert any(line.get("correlation_id") == correlation_id for line in lines), function
    (delivered,) = chain.executions_of(order["id"])
    (listed,) = execution_orders(chain.stack.client("stepfunctions"), delivered)
    assert listed["correlationId"] == correlation_id
    # ... and the delivered order's stream record carries it into order-delivered-event.
    assert chain.table_items("OrdersTable") and any(
        o["correlationId"] == correlation_id for o in chain.table_items("OrdersTable") if o["orderId"] == order["id"]
    )
