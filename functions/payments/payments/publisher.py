"""PaymentsTable stream -> PaymentsTopic: the payments service's outbox."""

from typing import Any

from platform_core.events import EventBody, EventType, PaymentProcessedData
from platform_core.outbox import make_publisher, status_change
from platform_core.statuses import is_payment_result


def payment_event(old: dict[str, Any] | None, new: dict[str, Any] | None) -> EventBody | None:
    status = status_change(old, new)
    if new is None or not is_payment_result(status):
        return None
    data: PaymentProcessedData = {
        "orderId": new["orderId"],
        "userId": new["userId"],
        "bill": new["bill"],
        "status": status,
        "declineReason": new.get("declineReason"),
    }
    return EventType.PAYMENT_PROCESSED, data


handler = make_publisher(payment_event)
