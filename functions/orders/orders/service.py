"""Order use cases as plain functions: no HTTP, no boto3 - the repository and scheduler are passed in."""

from typing import Any, Protocol

from orders.domain import OrderStatus
from orders.models import Order
from orders.repository import OrdersRepository, new_order_item
from platform_core.clock import as_utc_iso, new_id, utc_now_iso
from platform_core.dynamo import TransitionRejectedError
from platform_core.jsonutil import plain_number
from platform_core.money import to_decimal
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
        bill=plain_number(item["bill"]),
        status=item["status"],
        createdAt=as_utc_iso(item["createdAt"]),
        updatedAt=as_utc_iso(item["updatedAt"]),
    )


def create_order(repo: OrdersRepository, user_id: str, bill: float | int, correlation_id: str) -> Order:
    item = new_order_item(new_id(), user_id, to_decimal(bill), utc_now_iso(), correlation_id)
    if not repo.add(item):  # a ULID collision: astronomically unlikely, never silently overwritten
        raise RuntimeError("order id collision")
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
