"""Order statuses and the only transitions allowed between them (the one place these rules live)."""

from enum import StrEnum


class OrderStatus(StrEnum):
    CREATED = "created"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    DELIVERED = "delivered"


# target status -> statuses it may be reached from
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.CONFIRMED: frozenset({OrderStatus.CREATED}),
    OrderStatus.DECLINED: frozenset({OrderStatus.CREATED}),
    OrderStatus.CANCELLED: frozenset({OrderStatus.CREATED, OrderStatus.CONFIRMED}),
    # Done by the delivery state machine (statemachine/delivery.asl.json); a test keeps them in step.
    OrderStatus.DELIVERED: frozenset({OrderStatus.CONFIRMED}),
}
