"""The statuses of orders and payments: one StrEnum each, shared by the services and the event models.

Each service's table stores its status, its API returns it, and the events carry it (platform_core.events), so
the enum lives here, in the layer both services import; each service's domain.py keeps the transitions between
its statuses. A StrEnum costs nothing at import.
"""

from enum import StrEnum
from typing import Literal, TypeGuard, get_args


class OrderStatus(StrEnum):
    """An order's status, as the orders API returns it and its table stores it."""

    CREATED = "created"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    DELIVERED = "delivered"


class PaymentStatus(StrEnum):
    """A payment's status, as the payments API returns it and its table stores it."""

    PENDING = "pending"
    PROCESSING = "processing"  # claimed: exactly one request is charging the card
    PAID = "paid"
    DECLINED = "declined"
    VOIDED = "voided"
    # The order was cancelled after its charge was approved: the refund is asked for, and `refunded` is
    # written only once the processor has made it (a failed refund is retried by the reconciler).
    REFUNDING = "refunding"
    REFUNDED = "refunded"


# The outcome of a charge: the payment statuses a payment-processed-event carries (members of PaymentStatus,
# so the event model, its catalogue, the payments publisher and the orders consumer cannot name another).
PaymentResult = Literal[PaymentStatus.PAID, PaymentStatus.DECLINED]
PAYMENT_RESULTS: frozenset[PaymentStatus] = frozenset(get_args(PaymentResult))


def is_payment_result(status: object) -> TypeGuard[PaymentResult]:
    """True when `status` (a member or its value) is the outcome of a charge."""
    return status in PAYMENT_RESULTS
