"""Payment use cases as plain functions: the store, the card processor, the clock, ids and sleep are passed in
(PaymentsDeps).

Paying claims the payment first (`pending -> processing`, a conditional write), then charges the
card, then records the result (`processing -> paid/declined`, conditional on the same claim). Only
the request that claimed may charge, so racing requests and a racing cancel never charge twice or
void a charged card. A claim older than any function may run (its charger died) is settled by asking
the processor for the claim's charge by its idempotency key: on the next pay, or by the cancel.

Every write is safe to repeat: one whose answer was lost and that the SDK sends again finds itself made
(platform_core.dynamo.Transition's token), and a pay request repeated with its Idempotency-Key carries the
same claim, so it finds its own claim or its own result and carries on from there.
"""

import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from payments.cards import brand_of
from payments.domain import CLAIM_LEASE, PaymentStatus, charge_outcome, claim_expired, settlement
from payments.models import CardSummary, Payment, PaymentRecord
from payments.processor import Card, CardProcessor, ChargeResult, charge_key, refund_key
from payments.repository import Move, PaymentsStore
from platform_core.clock import utc_now_iso
from platform_core.dynamo import TransitionRejectedError
from platform_core.observability import count, logger

# An order-cancelled event can race the payment's creation or a claim; this many rounds always settle it.
_CANCEL_ROUNDS = 3


# The log lines make soak/chaos count, by their structured `step` field (loadtest.ledger reads the logs).
CANCEL_MEETS_CHARGE = "order cancelled while its card is being charged"
CANCEL_WAITS_FOR_CHARGE = "the card is still being charged: the order-cancelled message is retried"
CLAIM_SETTLED = "settled a claim its charger left behind"
CHARGE_WAIT_SECONDS = 0.8  # PaymentsDeps.charge_wait
CHARGE_POLL_SECONDS = 0.05

Clock = Callable[[], str]
"""The time a change is stamped with (ISO 8601 UTC with milliseconds); tests pass a fixed one."""


def new_claim() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class PaymentsDeps:
    """What the use cases that touch a card work with: the payments table, the card processor, the clock, a
    source of claim ids, and how long a cancel waits here for a charge in flight before leaving it to SQS's
    redelivery (a charge takes a moment; a batch of 10 such messages still ends well within the consumer's
    Timeout), with the sleep and monotonic clock it waits by."""

    store: PaymentsStore
    processor: CardProcessor
    charge_wait: float = CHARGE_WAIT_SECONDS
    clock: Clock = utc_now_iso
    claims: Callable[[], str] = new_claim
    sleep: Callable[[float], None] = field(default=time.sleep)
    monotonic: Callable[[], float] = field(default=time.monotonic)

    def now(self) -> datetime:
        return datetime.fromisoformat(self.clock())


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
    """pending -> processing (the claim) -> paid or declined; any other status is a conflict.

    The claim is `deps.claims()`: a fresh one, or the one a request's Idempotency-Key reserved, so a repeat
    of a request whose answer was lost finds its own claim, or its result, and carries on from there."""
    repo = deps.store
    claim = deps.claims()
    record = repo.get(user_id, order_id, consistent=True)  # the amount to charge lives here
    if record is None:
        raise PaymentNotFoundError(order_id)
    if record.claimId == claim:
        if record.status == PaymentStatus.PROCESSING:
            return _charge(deps, record, card, correlation_id)  # the processor answers a repeated key as before
        if record.status in (PaymentStatus.PAID, PaymentStatus.DECLINED):
            return _outcome(record)
    if record.status == PaymentStatus.PROCESSING:
        record, settled_here = settle_claim(deps, record, order_cancelled=False, correlation_id=correlation_id)
        if settled_here and record.status != PaymentStatus.PENDING:
            return _outcome(record)  # the earlier attempt's charge, as the processor recorded it
    if record.status != PaymentStatus.PENDING:
        raise PaymentConflictError(record.public())
    try:
        summary = CardSummary(brand=brand_of(card.number), last4=card.last4)
        change = Move(PaymentStatus.PROCESSING, deps.clock(), correlation_id, claim=claim, card=summary, token=claim)
        claimed = repo.move(user_id, order_id, change)
    except TransitionRejectedError as rejected:
        raise _not_found_or_conflict(order_id, rejected.current) from None
    return _charge(deps, claimed, card, correlation_id)


def _charge(deps: PaymentsDeps, claimed: PaymentRecord, card: Card, correlation_id: str) -> Payment:
    result = deps.processor.charge(idempotency_key=charge_key(claimed.orderId), amount=claimed.bill, card=card)
    return _record_charge(deps, claimed, result, correlation_id)


def _record_charge(deps: PaymentsDeps, claimed: PaymentRecord, result: ChargeResult, correlation_id: str) -> Payment:
    target = charge_outcome(result.approved)
    claim = claimed.claimId or ""
    try:
        change = Move(
            target, deps.clock(), correlation_id, claim_id=claim, decline_reason=result.decline_reason, token=claim
        )
        done = deps.store.move(claimed.userId, claimed.orderId, change)
    except TransitionRejectedError as rejected:
        current: PaymentRecord | None = rejected.current
        if current is not None and current.status == target and current.claimId == claim:
            return _outcome(current)  # settled to this very charge's result by someone who asked the processor
        # A cancel settled the claim first (refunded or declined): the charge is accounted for there.
        raise _not_found_or_conflict(claimed.orderId, current) from None
    count("PaymentsPaid" if result.approved else "PaymentsDeclined")
    logger.info("payment processed", extra={"order_id": claimed.orderId, "status": done.status.value})
    return _outcome(done)


def _outcome(record: PaymentRecord) -> Payment:
    if record.status == PaymentStatus.DECLINED:
        raise PaymentDeclinedError(record.public())
    return record.public()


def _not_found_or_conflict(order_id: str, current: PaymentRecord | None) -> Exception:
    return PaymentNotFoundError(order_id) if current is None else PaymentConflictError(current.public())


def settle_claim(
    deps: PaymentsDeps, record: PaymentRecord, *, order_cancelled: bool, correlation_id: str
) -> tuple[PaymentRecord, bool]:
    """A processing payment: if its charger is gone, ask the processor what became of the claim's
    charge and record it (payments.domain.settlement). Returns the payment as it is now, and whether
    this call settled it."""
    if not claim_expired(record.claimedAt, deps.now()):
        raise PaymentBeingChargedError(record.public())
    found = deps.processor.find_charge(idempotency_key=charge_key(record.orderId))
    target = settlement(
        charged=found is not None, approved=found is not None and found.approved, order_cancelled=order_cancelled
    )
    try:
        change = Move(
            target,
            deps.clock(),
            correlation_id,
            claim_id=record.claimId or "",
            decline_reason=found.decline_reason if found else None,
        )
        settled = deps.store.move(record.userId, record.orderId, change)
    except TransitionRejectedError as rejected:
        if rejected.current is None:
            raise PaymentNotFoundError(record.orderId) from None
        return rejected.current, False  # settled (or claimed again) meanwhile
    count("PaymentClaimsSettled")
    logger.warning(
        CLAIM_SETTLED,
        extra={
            "order_id": record.orderId,
            "status": target.value,
            "charge_found": found is not None,
            "step": "claim_settled",
        },
    )
    return settled, True


def open_payment(repo: PaymentsStore, *, user_id: str, order_id: str, bill: Decimal, correlation_id: str) -> None:
    """payment-create-event: a pending payment for the order's bill; a repeat changes nothing."""
    if repo.add(_new_record((user_id, order_id), bill, PaymentStatus.PENDING, correlation_id, utc_now_iso())):
        count("PaymentsCreated")
        logger.info("payment created", extra={"order_id": order_id})
    else:
        logger.info("payment already exists", extra={"order_id": order_id})


def _new_record(
    key: tuple[str, str], bill: Decimal, status: PaymentStatus, correlation_id: str, now: str
) -> PaymentRecord:
    user_id, order_id = key
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
    """order-cancelled-event: pending -> voided, paid -> refunding -> refunded; no payment yet -> a voided one
    (so the late payment-create-event finds it and changes nothing). A payment being charged is waited
    for, `deps.charge_wait` seconds here (a charge takes a moment), then by failing the message so SQS
    redelivers it later (PaymentBeingChargedError); one whose charger died is settled."""
    deadline = deps.monotonic() + deps.charge_wait
    rounds, met_charge = 0, False
    while rounds < _CANCEL_ROUNDS:
        try:
            if _cancel_round(deps, user_id=user_id, order_id=order_id, bill=bill, correlation_id=correlation_id):
                return
            rounds += 1
        except PaymentBeingChargedError:
            if not met_charge:  # logged once per delivery (make soak counts these)
                met_charge = True
                logger.info(CANCEL_MEETS_CHARGE, extra={"order_id": order_id, "step": "cancel_meets_charge"})
            if deps.monotonic() >= deadline:
                logger.info(CANCEL_WAITS_FOR_CHARGE, extra={"order_id": order_id, "step": "cancel_waits_for_charge"})
                raise
            deps.sleep(CHARGE_POLL_SECONDS)
    raise RuntimeError(f"payment of order {order_id} kept changing while being cancelled")


def _cancel_round(deps: PaymentsDeps, *, user_id: str, order_id: str, bill: Decimal, correlation_id: str) -> bool:
    """One look at the payment: True when the cancel is settled, False to look again."""
    repo = deps.store
    try:
        repo.move(user_id, order_id, Move(PaymentStatus.VOIDED, deps.clock(), correlation_id))
        count("PaymentsVoided")
        logger.info("payment voided", extra={"order_id": order_id})
        return True
    except TransitionRejectedError as rejected:
        current: PaymentRecord | None = rejected.current
    if current is None:
        if repo.add(_new_record((user_id, order_id), bill, PaymentStatus.VOIDED, correlation_id, deps.clock())):
            logger.info("payment voided before it was opened", extra={"order_id": order_id})
            return True
        return False  # it was created meanwhile: settle it as it is now
    if current.status == PaymentStatus.PROCESSING:
        if not current.cancelRequested and not claim_expired(current.claimedAt, deps.now()):
            # Whoever settles this claim if its charger never records it (the reconciler) settles it as cancelled.
            repo.request_cancel(user_id, order_id)
        current, _ = settle_claim(deps, current, order_cancelled=True, correlation_id=correlation_id)
    if current.status in (PaymentStatus.PENDING, PaymentStatus.PROCESSING):
        return False  # released or claimed again meanwhile: look again
    if current.status == PaymentStatus.PAID:
        try:
            current = repo.move(user_id, order_id, Move(PaymentStatus.REFUNDING, deps.clock(), correlation_id))
        except TransitionRejectedError:
            return False
    if current.status == PaymentStatus.REFUNDING:
        finish_refund(deps, current, correlation_id)
    return True


def finish_refund(deps: PaymentsDeps, record: PaymentRecord, correlation_id: str) -> bool:
    """refunding -> refunded, once the processor has refunded (the refund's own key makes it once, whoever
    asks and however often). False when someone else recorded it first. A failed refund raises and leaves
    the payment refunding: the cancel's redelivery, or the reconciler, asks again."""
    order_id = record.orderId
    deps.processor.refund(idempotency_key=refund_key(order_id), charge_key=charge_key(order_id), amount=record.bill)
    try:
        deps.store.move(record.userId, order_id, Move(PaymentStatus.REFUNDED, deps.clock(), correlation_id))
    except TransitionRejectedError as rejected:
        if rejected.current is not None and rejected.current.status == PaymentStatus.REFUNDED:
            return False
        raise
    count("PaymentsRefunded")
    logger.info("payment refunded", extra={"order_id": order_id})
    return True


def reconcile(deps: PaymentsDeps, *, correlation_id: str, stale_after: timedelta) -> Counter[str]:
    """The scheduled reconciler: settle every payment the system must move on by itself, as a later pay or
    cancel would (a claim past its lease: by asking the processor; a refund not yet made: by making it).
    Returns how many ended how; counts and logs each. Safe beside pays, cancels and another run: every
    write is conditional, and the loser of a race finds the payment settled ("overtaken").

    A claim found more than `stale_after` past its lease has outlived several runs: counted as stale (an
    alarm reads it)."""
    now = deps.now()
    outcomes: Counter[str] = Counter()
    for record in deps.store.unsettled(claimed_before=_iso(now - CLAIM_LEASE)):
        if claim_expired(record.claimedAt, now - stale_after):
            outcomes["stale"] += 1
            logger.warning("an unsettled payment outlived several reconciler runs", extra={"order_id": record.orderId})
        try:
            outcome = _reconcile_one(deps, record, correlation_id)
        except Exception:  # one payment's failure (a refund the processor refused) must not hold back the others
            logger.exception("could not reconcile a payment", extra={"order_id": record.orderId})
            outcome = "failed"
        outcomes[outcome] += 1
        logger.info("payment reconciled", extra={"order_id": record.orderId, "outcome": outcome, "step": "reconciled"})
    for outcome, number in outcomes.items():
        count(RECONCILER_METRICS[outcome], number)
    return outcomes


# The reconciler's outcomes and the metric each is counted as.
RECONCILER_METRICS = {
    "paid": "ReconciledPaid",
    "declined": "ReconciledDeclined",
    "pending": "ReconciledReleased",
    "voided": "ReconciledVoided",
    "refunded": "ReconciledRefunded",
    "overtaken": "ReconciledByOthers",
    "failed": "ReconcileFailures",
    "stale": "StaleUnsettledPayments",
}


def _reconcile_one(deps: PaymentsDeps, record: PaymentRecord, correlation_id: str) -> str:
    if record.status == PaymentStatus.PROCESSING:
        settled, settled_here = settle_claim(
            deps, record, order_cancelled=record.cancelRequested, correlation_id=correlation_id
        )
        if not settled_here:
            return "overtaken"
        record = settled
    if record.status == PaymentStatus.REFUNDING:
        return "refunded" if finish_refund(deps, record, correlation_id) else "overtaken"
    return record.status.value


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
