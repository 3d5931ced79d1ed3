"""PaymentsTable stream -> PaymentsTopic: the payments service's outbox."""

from typing import Any

from payments.domain import PaymentStatus
from platform_core.events import EventType
from platform_core.outbox import make_publisher, status_change


def payment_event(old: dict[str, Any] | None, new: dict[str, Any] | None) -> tuple[str, dict[str, Any]] | None:
    status = status_change(old, new)
    if new is None or status not in (PaymentStatus.PAID, PaymentStatus.DECLINED):
        return None
    return EventType.PAYMENT_PROCESSED, {
        "orderId": new["orderId"],
        "userId": new["userId"],
        "bill": new["bill"],
        "status": status,
        "declineReason": new.get("declineReason"),
    }


handler = make_publisher(payment_event)
