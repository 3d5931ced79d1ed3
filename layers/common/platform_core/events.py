"""Event types. The envelope every message carries is {"id", "type", "source", "time", "correlationId",
"data"}: publishers build it as a dict (platform_core.outbox), consumers validate it (platform_core.inbox).
No pydantic here, so the publishers' cold start does not pay for it."""

from enum import StrEnum


class EventType(StrEnum):
    PAYMENT_CREATE = "payment-create-event"
    PAYMENT_PROCESSED = "payment-processed-event"
    ORDER_CANCELLED = "order-cancelled-event"
    ORDER_DELIVERED = "order-delivered-event"
