"""Payment statuses and the only transitions allowed between them."""

from enum import StrEnum


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    DECLINED = "declined"
    VOIDED = "voided"
    REFUNDED = "refunded"


# target status -> statuses it may be reached from
TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PAID: frozenset({PaymentStatus.PENDING}),
    PaymentStatus.DECLINED: frozenset({PaymentStatus.PENDING}),
    PaymentStatus.VOIDED: frozenset({PaymentStatus.PENDING}),
    PaymentStatus.REFUNDED: frozenset({PaymentStatus.PAID}),
}
