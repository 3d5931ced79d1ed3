"""Order use cases as plain functions: no HTTP, no boto3 - the repository and scheduler are passed in."""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from orders.domain import ORDER_AFTER_PAYMENT, OrderStatus
from orders.models import Order, OrderRecord
from orders.repository import OrdersStore
from platform_core.clock import new_id, utc_now_iso
from platform_core.dynamo import TransitionRejectedError
from platform_core.observability import count, logger
from platform_core.statuses import is_payment_result


class OrderNotFoundError(Exception):
    pass


class OrderConflictError(Exception):
    def __init__(self, order: Order) -> None:
        super().__init__(f"order is {order.status}")
        self.order = order


Clock = Callable[[], str]
"""The time a change is stamped with (ISO 8601 UTC with milliseconds); tests pass a fixed one."""
IdSource = Callable[[], str]
"""A new order id (a ULID: sorts by creation time)."""


class DeliveryScheduler(Protocol):
    def schedule(self, user_id: str, order_id: str, correlation_id: str) -> None: ...


@dataclass(frozen=True)
class OrdersDeps:
    """What a payment result works with: the orders table and the delivery it schedules."""

    store: OrdersStore
    scheduler: DeliveryScheduler
    clock: Clock = utc_now_iso


def new_identity(clock: Clock = utc_now_iso, ids: IdSource = new_id) -> dict[str, str]:
    """An order's id and creation time, drawn once per request (see `create_order`)."""
    return {"orderId": ids(), "createdAt": clock()}


def create_order(
    repo: OrdersStore,
    user_id: str,
    bill: Decimal,
    correlation_id: str,
    identity: dict[str, str] | None = None,
) -> Order:
    """A new order; `identity` (id and creation time) is the request's own, reserved under its
    Idempotency-Key, so a retry of a request whose answer was lost makes the same order, once."""
    identity = identity or new_identity()
    created_at = identity["createdAt"]
    record = OrderRecord(
        id=identity["orderId"],
        userId=user_id,
        bill=bill,
        status=OrderStatus.CREATED,
        createdAt=created_at,
        updatedAt=created_at,
        correlationId=correlation_id,
    )
    if not repo.add(record):
        # The id is this request's (a fresh ULID, or reserved by its key): the order is there already
        # because this request wrote it before (the SDK retried a write whose answer was lost, or an
        # earlier attempt died after writing). Never overwritten.
        logger.info("order already created by this request", extra={"order_id": record.id})
        return record.public()
    count("OrdersCreated")
    logger.info("order created", extra={"order_id": record.id})
    return record.public()


def get_order(repo: OrdersStore, user_id: str, order_id: str) -> Order:
    record = repo.get(user_id, order_id)
    if record is None:
        raise OrderNotFoundError(order_id)
    return record.public()


def list_orders(repo: OrdersStore, user_id: str, limit: int, next_token: str | None) -> tuple[list[Order], str | None]:
    records, token = repo.page(user_id, limit, next_token)
    return [r.public() for r in records], token


def cancel_order(
    repo: OrdersStore, user_id: str, order_id: str, correlation_id: str, *, clock: Clock = utc_now_iso
) -> Order:
    """created/confirmed -> cancelled; cancelling a cancelled order is a no-op; others conflict."""
    try:
        record = repo.move(user_id, order_id, OrderStatus.CANCELLED, now=clock(), correlation_id=correlation_id)
    except TransitionRejectedError as rejected:
        current: OrderRecord | None = rejected.current
        if current is None:
            raise OrderNotFoundError(order_id) from None
        if current.status == OrderStatus.CANCELLED:
            return current.public()
        raise OrderConflictError(current.public()) from None
    count("OrdersCancelled")
    logger.info("order cancelled", extra={"order_id": order_id})
    return record.public()


def apply_payment_result(
    deps: OrdersDeps, *, user_id: str, order_id: str, payment_status: str, correlation_id: str
) -> None:
    """payment paid -> order confirmed and delivery scheduled; declined -> order declined.

    Safe to repeat: a message seen before finds the transition made. A confirmed order
    (re)schedules its delivery, so a failed start is retried with the message and the
    execution, named after the order, runs once.
    """
    if not is_payment_result(payment_status):
        logger.warning("payment status is not a result", extra={"payment_status": payment_status})
        return
    target = ORDER_AFTER_PAYMENT[payment_status]
    try:
        current = deps.store.move(user_id, order_id, target, now=deps.clock(), correlation_id=correlation_id).status
        count("OrdersConfirmed" if target == OrderStatus.CONFIRMED else "OrdersDeclined")
        logger.info("order updated by payment", extra={"order_id": order_id, "status": target.value})
    except TransitionRejectedError as rejected:
        if rejected.current is None:
            # The payment exists, so the order did: it cannot have vanished. Retry, then DLQ.
            raise OrderNotFoundError(order_id) from None
        current = rejected.current.status
        logger.info(
            "payment result already applied or overtaken",
            extra={"order_id": order_id, "status": current.value, "payment_status": payment_status},
        )
    if target == OrderStatus.CONFIRMED and current == OrderStatus.CONFIRMED:
        deps.scheduler.schedule(user_id, order_id, correlation_id)
