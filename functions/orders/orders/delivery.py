"""Delivery of confirmed orders: one Step Functions execution per inbox batch, not one per order.

``schedule`` (what the service calls for each confirmed order) only collects the order under the inbox
message being handled; ``flush``, after the batch, starts one execution per at most 25 orders
(BatchExecuteStatement's limit). Its input lists the orders, the time they are due (the Wait state's
timestamp) and one conditional PartiQL UPDATE per order (orders.repository.delivered_statement): after
the wait, one task runs them all, each order's outcome its own (a cancelled order fails its condition and
stays cancelled). The execution is named after its orders, so the same batch redelivered starts nothing
new; a different batch holding an order again is harmless too: its condition fails.

A start that fails (throttled beyond the client's retries) fails the messages of its orders: SQS
redelivers them (the confirmation is already made, the start is retried), and `DeliveryStartThrottled`
counts a throttled one for its alarm before anything reaches the DLQ.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from platform_core.config import is_transient
from platform_core.observability import count, logger

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

MAX_ORDERS_PER_EXECUTION = 25  # DynamoDB BatchExecuteStatement runs at most 25 statements
THROTTLED = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"})

# (user id, order id, delivery time, correlation id) -> the order's conditional PartiQL statement.
StatementOf = Callable[[str, str, str, str], dict[str, Any]]


@dataclass(frozen=True)
class Delivery:
    user_id: str
    order_id: str
    correlation_id: str
    message_id: str  # the inbox message that confirmed it: it fails if the start does


def execution_name(deliveries: list[Delivery]) -> str:
    """The same orders, the same name (at most 80 characters, as Step Functions allows)."""
    keys = sorted(f"{d.user_id}/{d.order_id}" for d in deliveries)
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:20]
    first = min(d.order_id for d in deliveries)
    return f"{first[:40]}-{len(deliveries)}-{digest}"


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class StepFunctionsDeliveryScheduler:
    client: SFNClient
    state_machine_arn: str
    statement_of: StatementOf
    delay_seconds: int
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    pending: list[Delivery] = field(default_factory=list)
    message_id: str = ""

    def begin(self, message_id: str) -> None:
        """The inbox message whose orders the next ``schedule`` calls belong to."""
        self.message_id = message_id

    def schedule(self, user_id: str, order_id: str, correlation_id: str) -> None:
        self.pending.append(Delivery(user_id, order_id, correlation_id, self.message_id))

    def flush(self) -> set[str]:
        """Start the collected deliveries; the ids of the messages whose delivery did not start."""
        unique = list({(d.user_id, d.order_id): d for d in self.pending}.values())
        self.pending = []
        failed: set[str] = set()
        for start in range(0, len(unique), MAX_ORDERS_PER_EXECUTION):
            batch = unique[start : start + MAX_ORDERS_PER_EXECUTION]
            if not self.start(batch):
                failed |= {d.message_id for d in batch}
        return failed

    def start(self, batch: list[Delivery]) -> bool:
        due = iso(self.now() + dt.timedelta(seconds=self.delay_seconds))
        name = execution_name(batch)
        orders = [{"userId": d.user_id, "orderId": d.order_id, "correlationId": d.correlation_id} for d in batch]
        statements = [self.statement_of(d.user_id, d.order_id, due, d.correlation_id) for d in batch]
        payload = {"deliverAt": due, "orders": orders, "statements": statements}
        order_ids = [d.order_id for d in batch]
        try:
            started = self.client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload)
            )
        except self.client.exceptions.ExecutionAlreadyExists:
            # The same batch again (a redelivered message): its execution runs already, or ran.
            logger.info("delivery already scheduled", extra={"execution_name": name, "order_ids": order_ids})
            return True
        except Exception as exc:
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
            if code in THROTTLED:
                count("DeliveryStartThrottled")
            log = logger.error if code in THROTTLED or is_transient(exc) else logger.exception
            log("delivery not started: its messages are retried", extra={"order_ids": order_ids, "code": code})
            return False
        logger.info(
            "delivery scheduled",
            extra={"execution_arn": started["executionArn"], "order_ids": order_ids, "deliver_at": due},
        )
        return True
