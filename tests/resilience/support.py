"""Helpers of the resilience suite: an HTTP client that records what it saw, the invariant checker,
direct access to topics, queues and tables, and the card numbers the suite uses."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests

from devstack import LocalStack
from loadtest.invariants import execution_counts, table_violations
from loadtest.ledger import charge_violations, scan

GOOD_CARD = "4242 4242 4242 4242"
MASTERCARD = "5555-5555-5555-4444"
AMEX = "378282246310005"
DECLINED_CARD = "4000000000000002"
INSUFFICIENT_CARD = "4000000000009995"
CARDS_USED = (GOOD_CARD, MASTERCARD, AMEX, DECLINED_CARD, INSUFFICIENT_CARD)


def card_body(number: str = GOOD_CARD, cvt: Any = 123, expiry: str = "12/30") -> dict[str, Any]:
    return {"creditCardDetails": {"number": number, "cvt": cvt, "expiry": expiry}}


@dataclass
class Seen:
    """One HTTP exchange, kept so the secrets test can scan everything the suite received."""

    method: str
    url: str
    status: int
    headers: dict[str, str]
    text: str


RECEIVED: list[Seen] = []
_received_lock = threading.Lock()


@dataclass
class Api:
    """Plain HTTP against the local stack as one user; every response is recorded."""

    base_url: str
    token: str
    timeout: float = 30.0
    extra_headers: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **self.extra_headers, **kwargs.pop("headers", {})}
        resp = requests.request(method, self.base_url + path, headers=headers, timeout=self.timeout, **kwargs)
        with _received_lock:
            RECEIVED.append(Seen(method, path, resp.status_code, dict(resp.headers), resp.text))
        return resp

    def create(self, bill: float = 20, **kwargs: Any) -> requests.Response:
        return self.request("POST", "/orders", json={"bill": bill}, **kwargs)

    def create_id(self, bill: float = 20) -> str:
        resp = self.create(bill)
        assert resp.status_code == 201, resp.text
        return str(resp.json()["data"]["id"])

    def order(self, order_id: str) -> requests.Response:
        return self.request("GET", f"/orders/{order_id}")

    def payment(self, order_id: str) -> requests.Response:
        return self.request("GET", f"/payments/{order_id}")

    def pay(self, order_id: str, number: str = GOOD_CARD, **kwargs: Any) -> requests.Response:
        return self.request("POST", f"/payments/pay/{order_id}", json=card_body(number), **kwargs)

    def cancel(self, order_id: str) -> requests.Response:
        return self.request("DELETE", f"/orders/{order_id}")


def user_api(stack: LocalStack, prefix: str = "user") -> Api:
    """A fresh user (so tests sharing the stack never see each other's orders)."""
    return Api(stack.base_url, stack.token(f"{prefix}-{uuid.uuid4().hex[:10]}"))


# ---------------------------------------------------------------------------- tables


def item(stack: LocalStack, table: str, user: str, order_id: str) -> dict[str, Any] | None:
    return next((i for i in scan(stack, table) if i["userId"] == user and i["orderId"] == order_id), None)


def check_invariants(stack: LocalStack) -> dict[tuple[str, str, str], str]:
    """Assert the contract's invariants over both tables and the card ledger, once nothing is in flight
    (loadtest.invariants: the ones ``make chaos`` checks). Returns ``{(userId, orderId, order status): payment
    status}``."""
    orders = scan(stack, "OrdersTable")
    payments = scan(stack, "PaymentsTable")
    problems = [str(v) for v in table_violations(orders, payments, execution_counts(stack), unpaid=True, orphans=True)]
    problems += charge_violations(payments, scan(stack, "CardSandboxTable"))
    assert not problems, "invariants broken:\n" + "\n".join(problems)
    status = {p["orderId"]: p["status"] for p in payments}
    return {(o["userId"], o["orderId"], o["status"]): status[o["orderId"]] for o in orders}


def executions(stack: LocalStack) -> list[dict[str, Any]]:
    sfn = stack.client("stepfunctions")
    arn = stack.physical_id("DeliveryStateMachine")
    out: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"stateMachineArn": arn, "maxResults": 1000}
    while True:
        resp = sfn.list_executions(**kwargs)
        out += resp["executions"]
        if not resp.get("nextToken"):
            return out
        kwargs["nextToken"] = resp["nextToken"]


# ---------------------------------------------------------------------------- messages


def envelope(event_type: str, data: dict[str, Any], event_id: str | None = None, source: str = "test") -> str:
    return json.dumps(
        {
            "id": event_id or uuid.uuid4().hex,
            "type": event_type,
            "source": source,
            "time": "2026-11-25T12:00:00.000Z",
            "correlationId": f"resilience-{uuid.uuid4().hex[:8]}",
            "data": data,
        }
    )


def publish(stack: LocalStack, topic: str, event_type: str, message: str) -> None:
    """Publish to a topic exactly as the outbox does (type also as the message attribute)."""
    stack.client("sns").publish(
        TopicArn=stack.physical_id(topic),
        Message=message,
        MessageAttributes={"type": {"DataType": "String", "StringValue": event_type}},
    )


def queue_url(stack: LocalStack, logical_id: str) -> str:
    return stack.model.queues[logical_id].url


def queue_depth(stack: LocalStack, logical_id: str) -> int:
    attrs = stack.client("sqs").get_queue_attributes(
        QueueUrl=queue_url(stack, logical_id),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attrs.values())


def drain(stack: LocalStack, logical_id: str) -> list[str]:
    """Receive and delete every message of a queue (a DLQ, say); returns the bodies."""
    sqs = stack.client("sqs")
    url = queue_url(stack, logical_id)
    bodies: list[str] = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not msgs:
            return bodies
        for m in msgs:
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def wait_for(predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll until ``predicate()`` is truthy (a bound on waiting, never an assertion on time)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s")
        time.sleep(0.05)


def log_records(stack: LocalStack, function: str) -> list[dict[str, Any]]:
    """The function's structured (JSON) log lines."""
    out = []
    for line in stack.function_logs(function):
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out
