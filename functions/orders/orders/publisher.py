"""OrdersTable stream -> OrdersTopic: the orders service's outbox."""

from typing import Any

from orders.domain import OrderStatus
from platform_core.events import EventBody, EventType, OrderCancelledData, OrderData
from platform_core.outbox import make_publisher, status_change


def order_event(old: dict[str, Any] | None, new: dict[str, Any] | None) -> EventBody | None:
    status = status_change(old, new)
    if new is None or status is None:
        return None
    order: OrderData = {"orderId": new["orderId"], "userId": new["userId"], "bill": new["bill"]}
    if status == OrderStatus.CREATED and old is None:
        return EventType.PAYMENT_CREATE, order
    if status == OrderStatus.CANCELLED:
        cancelled: OrderCancelledData = {**order, "previousStatus": old.get("status") if old else None}
        return EventType.ORDER_CANCELLED, cancelled
    if status == OrderStatus.DELIVERED:
        return EventType.ORDER_DELIVERED, order
    return None


# The state machine delivers without a Lambda: the publisher is the first code to see a delivery.
handler = make_publisher(order_event, counted={EventType.ORDER_DELIVERED: "OrdersDelivered"})
