"""The rules of payment statuses: the only transitions allowed between them, and what a claim whose
charger is gone settles to. Pure functions of their arguments (no clock, no I/O). The enum itself is
platform_core.statuses' (the events carry it too)."""

import zlib
from datetime import UTC, datetime, timedelta

from platform_core.statuses import PaymentStatus

__all__ = [
    "CLAIM_LEASE",
    "TRANSITIONS",
    "UNSETTLED",
    "PaymentStatus",
    "charge_outcome",
    "claim_expired",
    "settlement",
    "sources",
    "unsettled_shard",
]

# A claim this old has no live charger: longer than any function's Timeout (a test keeps it so).
CLAIM_LEASE = timedelta(seconds=30)

# target status -> statuses it may be reached from
TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    # The claim: only the request that moved the payment to processing may charge the card.
    PaymentStatus.PROCESSING: frozenset({PaymentStatus.PENDING}),
    PaymentStatus.PAID: frozenset({PaymentStatus.PROCESSING}),
    PaymentStatus.DECLINED: frozenset({PaymentStatus.PROCESSING}),
    # From processing only when the processor never saw the claim's charge (its function died).
    PaymentStatus.VOIDED: frozenset({PaymentStatus.PENDING, PaymentStatus.PROCESSING}),
    # From processing when the order was cancelled and the processor approved the claim's charge.
    PaymentStatus.REFUNDING: frozenset({PaymentStatus.PAID, PaymentStatus.PROCESSING}),
    # Only once the processor has refunded: a payment never reads refunded before its money went back.
    PaymentStatus.REFUNDED: frozenset({PaymentStatus.REFUNDING}),
    # A dead claim whose charge never reached the processor is released for the next attempt.
    PaymentStatus.PENDING: frozenset({PaymentStatus.PROCESSING}),
}


def sources(target: PaymentStatus, *, leaving_claim: bool) -> frozenset[PaymentStatus]:
    """Leaving `processing` must name the claim being settled; every other move must not touch a claim.

    So a cancel that voids a pending payment can never void one that is being charged meanwhile.
    """
    allowed = TRANSITIONS[target]
    return allowed & {PaymentStatus.PROCESSING} if leaving_claim else allowed - {PaymentStatus.PROCESSING}


def charge_outcome(approved: bool) -> PaymentStatus:
    """What the charger records once the processor answered."""
    return PaymentStatus.PAID if approved else PaymentStatus.DECLINED


def settlement(*, charged: bool, approved: bool, order_cancelled: bool) -> PaymentStatus:
    """What a claim whose charger is gone becomes, from what the processor holds under the claim's charge key
    (`charged`: it saw the charge; `approved`: and approved it): the same whoever settles it (a later pay, the
    order's cancel, the reconciler)."""
    if not charged:
        return PaymentStatus.VOIDED if order_cancelled else PaymentStatus.PENDING
    if approved:
        return PaymentStatus.REFUNDING if order_cancelled else PaymentStatus.PAID
    return PaymentStatus.DECLINED


def claim_expired(claimed_at: str | None, now: datetime) -> bool:
    """The claim is older than the lease: its charger cannot still be running."""
    if claimed_at is None:
        return True  # a claim without a time cannot be anybody's live one
    moment = datetime.fromisoformat(claimed_at)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return now - moment > CLAIM_LEASE


# The statuses the system itself must move on (a claim whose charger may be gone; a refund to make): the
# payments in them, and only those, are in PaymentsTable's sparse index UnsettledPayments.
UNSETTLED = frozenset({PaymentStatus.PROCESSING, PaymentStatus.REFUNDING})
# The index's partition key spreads its writes (every claim writes it) over this many keys.
UNSETTLED_SHARDS = 8


def unsettled_shard(order_id: str) -> str:
    return str(zlib.crc32(order_id.encode()) % UNSETTLED_SHARDS)
