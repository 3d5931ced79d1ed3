"""Order use cases as plain functions: no HTTP, no boto3 - the repository and scheduler are passed in."""

from decimal import Decimal
from typing import Any, Protocol

from orders.domain import OrderStatus
from orders.models import Order
from orders.repository import OrdersRepository, new_order_item
from platform_core.clock import as_utc_iso, new_id, utc_now_iso
from platform_core.dynamo import TransitionRejectedError
from platform_core.observability import count, logger


class OrderNotFoundError(Exception):
    pass


class OrderConflictError(Exception):
    def __init__(self, order: Order) -> None:
        super().__init__(f"order is {order.status}")
        self.order = order


class DeliveryScheduler(Protocol):
    def schedule(self, user_id: str, order_id: str, correlation_id: str) -> None: ...


def to_order(item: dict[str, Any]) -> Order:
    return Order(
        id=item["orderId"],
        userId=item["userId"],
        bill=item["bill"],
        status=item["status"],
        createdAt=as_utc_iso(item["createdAt"]),
        updatedAt=as_utc_iso(item["updatedAt"]),
    )


def new_identity() -> dict[str, str]:
    """An order's id and creation time, drawn once per request (see `create_order`)."""
    return {"orderId": new_id(), "createdAt": utc_now_iso()}


def create_order(
    repo: OrdersRepository,
    user_id: str,
    bill: Decimal,
    correlation_id: str,
    identity: dict[str, str] | None = None,
) -> Order:
    """A new order; `identity` (id and creation time) is the request's own, reserved under its
    Idempotency-Key, so a retry of a request whose answer was lost makes the same order, once."""
    identity = identity or new_identity()
    item = new_order_item(identity["orderId"], user_id, bill, identity["createdAt"], correlation_id)
    if not repo.add(item):
        # The id is this request's (a fresh ULID, or reserved by its key): the order is there already
        # because this request wrote it before (the SDK retried a write whose answer was lost, or an
        # earlier attempt died after writing). Never overwritten.
        logger.info("order already created by this request", extra={"order_id": item["orderId"]})
        return to_order(item)
    count("OrdersCreated")
    logger.info("order created", extra={"order_id": item["orderId"]})
    return to_order(item)


def get_order(repo: OrdersRepository, user_id: str, order_id: str) -> Order:
    item = repo.get(user_id, order_id)
    if item is None:
        raise OrderNotFoundError(order_id)
    return to_order(item)


def list_orders(
    repo: OrdersRepository, user_id: str, limit: int, next_token: str | None
) -> tuple[list[Order], str | None]:
    items, token = repo.page(user_id, limit, next_token)
    return [to_order(i) for i in items], token


def cancel_order(repo: OrdersRepository, user_id: str, order_id: str, correlation_id: str) -> Order:
    """created/confirmed -> cancelled; cancelling a cancelled order is a no-op; others conflict."""
    try:
        item = repo.move(user_id, order_id, OrderStatus.CANCELLED, now=utc_now_iso(), correlation_id=correlation_id)
    except TransitionRejectedError as rejected:
        if rejected.current is None:
            raise OrderNotFoundError(order_id) from None
        current = to_order(rejected.current)
        if current.status == OrderStatus.CANCELLED:
            return current
        raise OrderConflictError(current) from None
    count("OrdersCancelled")
    logger.info("order cancelled", extra={"order_id": order_id})
    return to_order(item)


def apply_payment_result(
    repo: OrdersRepository,
    scheduler: DeliveryScheduler,
    *,
    user_id: str,
    order_id: str,
    payment_status: str,
    correlation_id: str,
) -> None:
    """payment paid -> order confirmed and delivery scheduled; declined -> order declined.

    Safe to repeat: a message seen before finds the transition made. A confirmed order
    (re)schedules its delivery, so a failed start is retried with the message and the
    execution, named after the order, runs once.
    """
    if payment_status not in ("paid", "declined"):
        logger.warning("payment status is not a result", extra={"payment_status": payment_status})
        return
    target = OrderStatus.CONFIRMED if payment_status == "paid" else OrderStatus.DECLINED
    try:
        repo.move(user_id, order_id, target, now=utc_now_iso(), correlation_id=correlation_id)
        count("OrdersConfirmed" if target == OrderStatus.CONFIRMED else "OrdersDeclined")
        logger.info("order updated by payment", extra={"order_id": order_id, "status": target.value})
        current = target.value
    except TransitionRejectedError as rejected:
        if rejected.current is None:
            # The payment exists, so the order did: it cannot have vanished. Retry, then DLQ.
            raise OrderNotFoundError(order_id) from None
        current = rejected.current["status"]
        logger.info(
            "payment result already applied or overtaken",
            extra={"order_id": order_id, "status": current, "payment_status": payment_status},
        )
    if target == OrderStatus.CONFIRMED and current == OrderStatus.CONFIRMED:
        scheduler.schedule(user_id, order_id, correlation_id)
