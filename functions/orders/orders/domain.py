"""The rules of order statuses: the only transitions allowed between them, and what a payment's result
moves an order to (the one place these rules live). The enum itself is platform_core.statuses'."""

from platform_core.statuses import OrderStatus, PaymentResult, PaymentStatus

__all__ = ["ORDER_AFTER_PAYMENT", "TRANSITIONS", "OrderStatus"]

# target status -> statuses it may be reached from
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.CONFIRMED: frozenset({OrderStatus.CREATED}),
    OrderStatus.DECLINED: frozenset({OrderStatus.CREATED}),
    OrderStatus.CANCELLED: frozenset({OrderStatus.CREATED, OrderStatus.CONFIRMED}),
    # Done by the delivery state machine (statemachine/delivery.asl.json); a test keeps them in step.
    OrderStatus.DELIVERED: frozenset({OrderStatus.CONFIRMED}),
}

# A payment's result (payment-processed-event) -> the status it moves the order to.
ORDER_AFTER_PAYMENT: dict[PaymentResult, OrderStatus] = {
    PaymentStatus.PAID: OrderStatus.CONFIRMED,
    PaymentStatus.DECLINED: OrderStatus.DECLINED,
}
