"""OrdersTable: partition key userId, sort key orderId (a ULID), so lists are newest-first Queries."""

from decimal import Decimal
from typing import Any

from orders.domain import TRANSITIONS, OrderStatus
from platform_core.dynamo import StatusRepository


class OrdersRepository(StatusRepository[OrderStatus]):
    transitions = TRANSITIONS


def new_order_item(order_id: str, user_id: str, bill: Decimal, now: str, correlation_id: str) -> dict[str, Any]:
    return {
        "userId": user_id,
        "orderId": order_id,
        "bill": bill,
        "status": OrderStatus.CREATED.value,
        "createdAt": now,
        "updatedAt": now,
        "correlationId": correlation_id,
    }
