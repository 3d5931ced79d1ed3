"""PaymentsTable stream -> PaymentsTopic: the payments service's outbox."""

from typing import Any

from payments.domain import PaymentStatus
from platform_core.events import EventBody, EventType, PaymentProcessedData
from platform_core.outbox import make_publisher, status_change


def payment_event(old: dict[str, Any] | None, new: dict[str, Any] | None) -> EventBody | None:
    status = status_change(old, new)
    if new is None or status not in (PaymentStatus.PAID, PaymentStatus.DECLINED):
        return None
    data: PaymentProcessedData = {
        "orderId": new["orderId"],
        "userId": new["userId"],
        "bill": new["bill"],
        "status": "paid" if status == PaymentStatus.PAID else "declined",
        "declineReason": new.get("declineReason"),
    }
    return EventType.PAYMENT_PROCESSED, data


handler = make_publisher(payment_event)
