"""The rules of payment statuses: the only transitions allowed between them. The enum itself is
platform_core.statuses' (the events carry it too)."""

from platform_core.statuses import PaymentStatus

__all__ = ["TRANSITIONS", "PaymentStatus", "sources"]


# target status -> statuses it may be reached from
TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    # The claim: only the request that moved the payment to processing may charge the card.
    PaymentStatus.PROCESSING: frozenset({PaymentStatus.PENDING}),
    PaymentStatus.PAID: frozenset({PaymentStatus.PROCESSING}),
    PaymentStatus.DECLINED: frozenset({PaymentStatus.PROCESSING}),
    # From processing only when the processor never saw the claim's charge (its function died).
    PaymentStatus.VOIDED: frozenset({PaymentStatus.PENDING, PaymentStatus.PROCESSING}),
    # From processing when the order was cancelled and the processor approved the claim's charge.
    PaymentStatus.REFUNDED: frozenset({PaymentStatus.PAID, PaymentStatus.PROCESSING}),
    # A dead claim whose charge never reached the processor is released for the next attempt.
    PaymentStatus.PENDING: frozenset({PaymentStatus.PROCESSING}),
}


def sources(target: PaymentStatus, *, leaving_claim: bool) -> frozenset[PaymentStatus]:
    """Leaving `processing` must name the claim being settled; every other move must not touch a claim.

    So a cancel that voids a pending payment can never void one that is being charged meanwhile.
    """
    allowed = TRANSITIONS[target]
    return allowed & {PaymentStatus.PROCESSING} if leaving_claim else allowed - {PaymentStatus.PROCESSING}
