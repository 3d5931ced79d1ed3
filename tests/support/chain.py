"""Drives the local stack over HTTP and reads its tables, for integration and resilience tests."""

import json
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import requests

from devstack import LocalStack

T = TypeVar("T")
GOOD_CARD = {"number": "4242 4242 4242 4242", "cvt": 123, "expiry": "12/30"}
DECLINED_CARD = {"number": "4000 0000 0000 0002", "cvt": 123, "expiry": "12/30"}


def eventually(probe: Callable[[], T], until: Callable[[T], bool], timeout: float = 30.0) -> T:
    """Poll until the condition holds; a timeout fails with the last value seen (never a timing assert)."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not until(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached; last value: {value!r}")
        time.sleep(0.02)
        value = probe()
    return value


class Chain:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.http = requests.Session()
        self.user = f"user-{uuid.uuid4().hex[:10]}"

    def headers(self, user: str | None = None, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.token(user or self.user)}", **extra}

    def request(self, method: str, path: str, *, user: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {**self.headers(user), **kwargs.pop("headers", {})}
        return self.http.request(method, self.stack.base_url + path, headers=headers, timeout=30, **kwargs)

    def create_order(self, bill: float = 2000, **kwargs: Any) -> dict[str, Any]:
        response = self.request("POST", "/orders", json={"bill": bill}, **kwargs)
        assert response.status_code == 201, response.text
        return dict(response.json()["data"])

    def order(self, order_id: str, user: str | None = None) -> dict[str, Any]:
        response = self.request("GET", f"/orders/{order_id}", user=user)
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    def payment(self, order_id: str, user: str | None = None) -> dict[str, Any] | None:
        response = self.request("GET", f"/payments/{order_id}", user=user)
        return dict(response.json()["data"]) if response.status_code == 200 else None

    def wait_payment(self, order_id: str, status: str = "pending") -> dict[str, Any]:
        found = eventually(lambda: self.payment(order_id), lambda p: p is not None and p["status"] == status)
        assert found is not None
        return found

    def wait_order(self, order_id: str, status: str) -> dict[str, Any]:
        return eventually(lambda: self.order(order_id), lambda o: o["status"] == status)

    def pay(self, order_id: str, card: dict[str, Any] | None = None, **kwargs: Any) -> requests.Response:
        return self.request(
            "POST", f"/payments/pay/{order_id}", json={"creditCardDetails": card or GOOD_CARD}, **kwargs
        )

    def cancel(self, order_id: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", f"/orders/{order_id}", **kwargs)

    def table_items(self, logical_id: str) -> list[dict[str, Any]]:
        from platform_core.dynamo import deserialize

        pages = (
            self.stack.client("dynamodb")
            .get_paginator("scan")
            .paginate(TableName=self.stack.physical_id(logical_id), ConsistentRead=True)
        )
        return [deserialize(i) for page in pages for i in page["Items"]]

    def executions(self) -> list[dict[str, Any]]:
        sfn = self.stack.client("stepfunctions")
        arn = self.stack.physical_id("DeliveryStateMachine")
        return list(sfn.list_executions(stateMachineArn=arn)["executions"])

    def executions_of(self, order_id: str) -> list[dict[str, Any]]:
        """The delivery executions whose batch holds the order (executions are named after their batch)."""
        return executions_of(self.stack.client("stepfunctions"), self.executions(), order_id)

    def queue_depth(self, logical_id: str) -> int:
        attributes = self.stack.client("sqs").get_queue_attributes(
            QueueUrl=self.stack.physical_id(logical_id),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


# The contract's invariants once nothing is in flight: the payment statuses each order status allows.
PAYMENT_FOR_ORDER = {
    "created": {"pending"},
    "confirmed": {"paid"},
    "delivered": {"paid"},
    "declined": {"declined"},
    "cancelled": {"voided", "refunded", "declined"},
}


def invariant_violations(orders: list[dict[str, Any]], payments: list[dict[str, Any]]) -> list[str]:
    """The contract's invariants once nothing is in flight; an empty list when they all hold."""
    by_order = {}
    problems = []
    for payment in payments:
        key = (payment["userId"], payment["orderId"])
        if key in by_order:
            problems.append(f"two payments for {key}")
        by_order[key] = payment
    for order in orders:
        key = (order["userId"], order["orderId"])
        payment = by_order.pop(key, None)
        if payment is None:
            problems.append(f"order {key} has no payment")
        elif payment["status"] not in PAYMENT_FOR_ORDER[order["status"]]:
            problems.append(f"order {key} is {order['status']} but its payment is {payment['status']}")
        elif payment["bill"] != order["bill"]:
            problems.append(f"order {key} bills {order['bill']} but its payment {payment['bill']}")
    problems.extend(f"payment {key} has no order" for key in by_order)
    return problems


def execution_orders(sfn: Any, execution: dict[str, Any]) -> list[dict[str, Any]]:
    """The orders an execution's input lists (userId, orderId, correlationId)."""
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    return list(json.loads(described["input"])["orders"])


def executions_of(sfn: Any, executions: list[dict[str, Any]], order_id: str) -> list[dict[str, Any]]:
    return [e for e in executions if any(o["orderId"] == order_id for o in execution_orders(sfn, e))]
