"""The local stack for the sections that need one, and small HTTP/DynamoDB helpers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import requests
from ulid import ULID

from devstack.aws import make_client
from devstack.stack import LocalStack, StackOptions

CARD = {"number": "4242 4242 4242 4242", "cvt": 123, "expiry": "12/30"}


def bench_stack(template: Any, logs: str, parameters: dict[str, Any] | None = None, **options: Any) -> LocalStack:
    """A quiet local stack for measuring: deliveries without delay, no code watching (others may edit code
    meanwhile: no worker restarts in the middle of a figure), logs in ``logs``."""
    overrides = {"DeliveryDelaySeconds": 0, **(parameters or {})}
    return LocalStack(
        template,
        StackOptions(
            port=0, parameter_overrides=overrides, echo=lambda _line: None, watch=False, logs_dir=logs, **options
        ),
    )


@dataclass
class Ctx:
    """A started stack plus what the sections share: table names and an uncounted (internal) DynamoDB client."""

    stack: LocalStack
    orders_table: str = ""
    payments_table: str = ""
    ddb_internal: Any = None
    _tokens: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.orders_table = self.stack.physical_id("OrdersTable")
        self.payments_table = self.stack.physical_id("PaymentsTable")
        # Reads the bench does to watch progress are marked internal, so stack.inspect.aws_requests() ignores them.
        self.ddb_internal = make_client("dynamodb", self.stack.aws_endpoint, internal=True)

    @property
    def base(self) -> str:
        return self.stack.base_url

    def headers(self, user: str, idempotency_key: bool = False) -> dict[str, str]:
        if user not in self._tokens:
            self._tokens[user] = self.stack.token(user)
        h = {"Authorization": f"Bearer {self._tokens[user]}"}
        if idempotency_key:
            h["Idempotency-Key"] = str(uuid.uuid4())
        return h

    def create_order(self, session: requests.Session, user: str, bill: float = 12.5, key: bool = False) -> str:
        r = session.post(f"{self.base}/orders", json={"bill": bill}, headers=self.headers(user, key), timeout=30)
        r.raise_for_status()
        return str(r.json()["data"]["id"])

    def pay(self, session: requests.Session, user: str, order_id: str, key: bool = False) -> requests.Response:
        body: Any = {"creditCardDetails": CARD}
        return session.post(
            f"{self.base}/payments/pay/{order_id}",
            json=body,
            headers=self.headers(user, key),
            timeout=30,
        )

    def item(self, table: str, user: str, order_id: str) -> dict[str, Any] | None:
        resp = self.ddb_internal.get_item(
            TableName=table,
            Key={"userId": {"S": user}, "orderId": {"S": order_id}},
            ConsistentRead=True,
        )
        item = resp.get("Item")
        return item if isinstance(item, dict) else None

    def status(self, table: str, user: str, order_id: str) -> str | None:
        item = self.item(table, user, order_id)
        return str(item["status"]["S"]) if item else None


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.002) -> float:
    """Poll ``predicate`` until true; returns the perf_counter time it became true. TimeoutError otherwise."""
    deadline = time.perf_counter() + timeout
    while True:
        if predicate():
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(interval)


def order_item(user: str, status: str = "created", bill: str = "12.5", order_id: str | None = None) -> dict[str, Any]:
    """An OrdersTable item shaped like the service's (low-level AttributeValues)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return {
        "userId": {"S": user},
        "orderId": {"S": order_id or str(ULID())},
        "bill": {"N": str(Decimal(bill))},
        "status": {"S": status},
        "createdAt": {"S": now},
        "updatedAt": {"S": now},
        "correlationId": {"S": str(uuid.uuid4())},
    }
