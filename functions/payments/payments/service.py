"""Payment use cases as plain functions: the store and the card processor are passed in (PaymentsDeps).

Paying claims the payment first (`pending -> processing`, a conditional write), then charges the
card, then records the result (`processing -> paid/declined`, conditional on the same claim). Only
the request that claimed may charge, so racing requests and a racing cancel never charge twice or
void a charged card. A claim older than any function may run (its charger died) is settled by asking
the processor for the claim's charge by its idempotency key: on the next pay, or by the cancel.
"""

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from payments.cards import brand_of
from payments.domain import PaymentStatus
from payments.models import CardSummary, Payment, PaymentRecord
from payments.processor import Card, CardProcessor, ChargeResult, charge_key, refund_key
from payments.repository import Move, PaymentRejectedError, PaymentsStore
from platform_core.clock import utc_now_iso
from platform_core.observability import count, logger

# An order-cancelled event can race the payment's creation or a claim; this many rounds always settle it.
_CANCEL_ROUNDS = 3
# A claim this old has no live charger: longer than any function's Timeout (a test keeps it so).
CLAIM_LEASE = timedelta(seconds=30)


CANCEL_MEETS_CHARGE = "order cancelled while its card is being charged"
CANCEL_WAITS_FOR_CHARGE = "the card is still being charged: the order-cancelled message is retried"
CHARGE_WAIT_SECONDS = 0.8  # PaymentsDeps.charge_wait
CHARGE_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class PaymentsDeps:
    """What the use cases that touch a card work with: the payments table, the card processor, and how long a
    cancel waits here for a charge in flight before leaving it to SQS's redelivery (a charge takes a moment;
    a batch of 10 such messages still ends well within the consumer's Timeout)."""

    store: PaymentsStore
    processor: CardProcessor
    charge_wait: float = CHARGE_WAIT_SECONDS


class PaymentNotFoundError(Exception):
    pass


class PaymentConflictError(Exception):
    def __init__(self, payment: Payment) -> None:
        super().__init__(f"payment is {payment.status}")
        self.payment = payment


class PaymentBeingChargedError(PaymentConflictError):
    """Another request holds the claim and may still record its charge: wait for it (a cancel is retried)."""


class PaymentDeclinedError(Exception):
    def __init__(self, payment: Payment) -> None:
        super().__init__(f"payment declined: {payment.declineReason}")
        self.payment = payment


def get_payment(repo: PaymentsStore, user_id: str, order_id: str) -> Payment:
    record = repo.get(user_id, order_id)
    if record is None:
        raise PaymentNotFoundError(order_id)
    return record.public()


def list_payments(
    repo: PaymentsStore, user_id: str, limit: int, next_token: str | None
) -> tuple[list[Payment], str | None]:
    records, token = repo.page(user_id, limit, next_token)
    return [r.public() for r in records], token


def pay(deps: PaymentsDeps, *, user_id: str, order_id: str, card: Card, correlation_id: str) -> Payment:
    """pending -> processing (the claim) -> paid or declined; any other status is a conflict."""
    repo = deps.store
    record = repo.get(user_id, order_id, consistent=True)  # the amount to charge lives here
    if record is None:
        raise PaymentNotFoundError(order_id)
    if record.status == PaymentStatus.PROCESSING:
        record, settled_here = settle_claim(deps, record, order_cancelled=False, correlation_id=correlation_id)
        if settled_here and record.status != PaymentStatus.PENDING:
            return _outcome(record)  # the earlier attempt's charge, as the processor recorded it
    if record.status != PaymentStatus.PENDING:
        raise PaymentConflictError(record.public())
    claim = uuid.uuid4().hex
    try:
        summary = CardSummary(brand=brand_of(card.number), last4=card.last4)
        claimed = repo.move(
            user_id, order_id, Move(PaymentStatus.PROCESSING, utc_now_iso(), correlation_id, claim=claim, card=summary)
        )
    except PaymentRejectedError as rejected:
        raise _not_found_or_conflict(order_id, rejected.current) from None
    result = deps.processor.charge(idempotency_key=charge_key(order_id), amount=claimed.bill, card=card)
    return _record_charge(repo, claimed, result, correlation_id)


def _record_charge(repo: PaymentsStore, claimed: PaymentRecord, result: ChargeResult, correlation_id: str) -> Payment:
    target = PaymentStatus.PAID if result.approved else PaymentStatus.DECLINED
    try:
        change = Move(
            target, utc_now_iso(), correlation_id, claim_id=claimed.claimId, decline_reason=result.decline_reason
        )
        done = repo.move(claimed.userId, claimed.orderId, change)
    except PaymentRejectedError as rejected:
        # A cancel settled the claim first (refunded or declined): the charge is accounted for there.
        raise _not_found_or_conflict(claimed.orderId, rejected.current) from None
    count("PaymentsPaid" if result.approved else "PaymentsDeclined")
    logger.info("payment processed", extra={"order_id": claimed.orderId, "status": done.status.value})
    return _outcome(done)


def _outcome(record: PaymentRecord) -> Payment:
    if record.status == PaymentStatus.DECLINED:
        raise PaymentDeclinedError(record.public())
    return record.public()


def _not_found_or_conflict(order_id: str, current: PaymentRecord | None) -> Exception:
    return PaymentNotFoundError(order_id) if current is None else PaymentConflictError(current.public())


def claim_expired(record: PaymentRecord, now: datetime | None = None) -> bool:
    if record.claimedAt is None:
        return True  # a claim without a time cannot be anybody's live one
    claimed_at = datetime.fromisoformat(record.claimedAt)
    if claimed_at.tzinfo is None:
        claimed_at = claimed_at.replace(tzinfo=UTC)
    return (now or datetime.now(UTC)) - claimed_at > CLAIM_LEASE


def settle_claim(
    deps: PaymentsDeps, record: PaymentRecord, *, order_cancelled: bool, correlation_id: str
) -> tuple[PaymentRecord, bool]:
    """A processing payment: if its charger is gone, ask the processor what became of the claim's
    charge and record it (cancelled: refunded / declined / voided; else paid / declined / pending
    again). Returns the payment as it is now, and whether this call settled it."""
    if not claim_expired(record):
        raise PaymentBeingChargedError(record.public())
    found = deps.processor.find_charge(idempotency_key=charge_key(record.orderId))
    if found is None:
        target = PaymentStatus.VOIDED if order_cancelled else PaymentStatus.PENDING
    elif found.approved:
        target = PaymentStatus.REFUNDED if order_cancelled else PaymentStatus.PAID
    else:
        target = PaymentStatus.DECLINED
    try:
        change = Move(
            target,
            utc_now_iso(),
            correlation_id,
            claim_id=record.claimId or "",
            decline_reason=found.decline_reason if found else None,
        )
        settled = deps.store.move(record.userId, record.orderId, change)
    except PaymentRejectedError as rejected:
        if rejected.current is None:
            raise PaymentNotFoundError(record.orderId) from None
        return rejected.current, False  # settled (or claimed again) meanwhile
    count("PaymentClaimsSettled")
    logger.warning(
        "settled a claim its charger left behind",
        extra={"order_id": record.orderId, "status": target.value, "charge_found": found is not None},
    )
    return settled, True


def open_payment(repo: PaymentsStore, *, user_id: str, order_id: str, bill: Decimal, correlation_id: str) -> None:
    """payment-create-event: a pending payment for the order's bill; a repeat changes nothing."""
    if repo.add(_new_record(user_id, order_id, bill, PaymentStatus.PENDING, correlation_id)):
        count("PaymentsCreated")
        logger.info("payment created", extra={"order_id": order_id})
    else:
        logger.info("payment already exists", extra={"order_id": order_id})


def _new_record(
    user_id: str, order_id: str, bill: Decimal, status: PaymentStatus, correlation_id: str
) -> PaymentRecord:
    now = utc_now_iso()
    return PaymentRecord(
        orderId=order_id,
        userId=user_id,
        bill=bill,
        status=status,
        card=None,
        declineReason=None,
        createdAt=now,
        updatedAt=now,
        correlationId=correlation_id,
    )


def settle_cancelled_order(
    deps: PaymentsDeps, *, user_id: str, order_id: str, bill: Decimal, correlation_id: str
) -> None:
    """order-cancelled-event: pending -> voided, paid -> refunded; no payment yet -> a voided one
    (so the late payment-create-event finds it and changes nothing). A payment being charged is waited
    for, `deps.charge_wait` seconds here (a charge takes a moment), then by failing the message so SQS
    redelivers it later (PaymentBeingChargedError); one whose charger died is settled."""
    deadline = time.monotonic() + deps.charge_wait
    rounds, met_charge = 0, False
    while rounds < _CANCEL_ROUNDS:
        try:
            if _cancel_round(deps, user_id=user_id, order_id=order_id, bill=bill, correlation_id=correlation_id):
                return
            rounds += 1
        except PaymentBeingChargedError:
            if not met_charge:  # logged once per delivery (make soak counts these)
                met_charge = True
                logger.info(CANCEL_MEETS_CHARGE, extra={"order_id": order_id})
            if time.monotonic() >= deadline:
                logger.info(CANCEL_WAITS_FOR_CHARGE, extra={"order_id": order_id})
                raise
            time.sleep(CHARGE_POLL_SECONDS)
    raise RuntimeError(f"payment of order {order_id} kept changing while being cancelled")


def _cancel_round(deps: PaymentsDeps, *, user_id: str, order_id: str, bill: Decimal, correlation_id: str) -> bool:
    """One look at the payment: True when the cancel is settled, False to look again."""
    repo = deps.store
    try:
        repo.move(user_id, order_id, Move(PaymentStatus.VOIDED, utc_now_iso(), correlation_id))
        count("PaymentsVoided")
        logger.info("payment voided", extra={"order_id": order_id})
        return True
    except PaymentRejectedError as rejected:
        current = rejected.current
    if current is None:
        if repo.add(_new_record(user_id, order_id, bill, PaymentStatus.VOIDED, correlation_id)):
            logger.info("payment voided before it was opened", extra={"order_id": order_id})
            return True
        return False  # it was created meanwhile: settle it as it is now
    if current.status == PaymentStatus.PROCESSING:
        current, settled_here = settle_claim(deps, current, order_cancelled=True, correlation_id=correlation_id)
        if settled_here and current.status == PaymentStatus.REFUNDED:
            count("PaymentsRefunded")
    if current.status in (PaymentStatus.PENDING, PaymentStatus.PROCESSING):
        return False  # released or claimed again meanwhile: look again
    if current.status == PaymentStatus.PAID:
        try:
            current = repo.move(user_id, order_id, Move(PaymentStatus.REFUNDED, utc_now_iso(), correlation_id))
        except PaymentRejectedError:
            return False
        count("PaymentsRefunded")
    if current.status == PaymentStatus.REFUNDED:
        # Repeated on a redelivery so a failed provider call is retried; the refund's key makes it once.
        deps.processor.refund(
            idempotency_key=refund_key(order_id), charge_key=charge_key(order_id), amount=current.bill
        )
        logger.info("payment refunded", extra={"order_id": order_id})
    return True
