"""PaymentsTable: partition key userId, sort key orderId (one payment per order)."""

from decimal import Decimal
from typing import Any

from payments.domain import TRANSITIONS, PaymentStatus
from platform_core.dynamo import StatusRepository


class PaymentsRepository(StatusRepository[PaymentStatus]):
    transitions = TRANSITIONS


def new_payment_item(
    *, user_id: str, order_id: str, bill: Decimal, status: PaymentStatus, now: str, correlation_id: str
) -> dict[str, Any]:
    return {
        "userId": user_id,
        "orderId": order_id,
        "bill": bill,
        "status": status.value,
        "createdAt": now,
        "updatedAt": now,
        "correlationId": correlation_id,
    }
