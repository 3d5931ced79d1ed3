"""Payment use cases as plain functions: the repository and the card processor are passed in."""

from decimal import Decimal
from typing import Any

from payments.cards import brand_of
from payments.domain import PaymentStatus
from payments.models import CardSummary, Payment
from payments.processor import Card, CardProcessor
from payments.repository import PaymentsRepository, new_payment_item
from platform_core.clock import as_utc_iso, utc_now_iso
from platform_core.dynamo import TransitionRejectedError
from platform_core.jsonutil import plain_number
from platform_core.observability import count, logger

# An order-cancelled event can race the payment's creation; this many rounds always settle it.
_CANCEL_ROUNDS = 3


class PaymentNotFoundError(Exception):
    pass


class PaymentConflictError(Exception):
    def __init__(self, payment: Payment) -> None:
        super().__init__(f"payment is {payment.status}")
        self.payment = payment


class PaymentDeclinedError(Exception):
    def __init__(self, payment: Payment) -> None:
        super().__init__(f"payment declined: {payment.declineReason}")
        self.payment = payment


def to_payment(item: dict[str, Any]) -> Payment:
    card = item.get("card")
    return Payment(
        orderId=item["orderId"],
        userId=item["userId"],
        bill=plain_number(item["bill"]),
        status=item["status"],
        card=CardSummary(brand=card["brand"], last4=card["last4"]) if card else None,
        declineReason=item.get("declineReason"),
        createdAt=as_utc_iso(item["createdAt"]),
        updatedAt=as_utc_iso(item["updatedAt"]),
    )


def get_payment(repo: PaymentsRepository, user_id: str, order_id: str) -> Payment:
    item = repo.get(user_id, order_id)
    if item is None:
        raise PaymentNotFoundError(order_id)
    return to_payment(item)


def list_payments(
    repo: PaymentsRepository, user_id: str, limit: int, next_token: str | None
) -> tuple[list[Payment], str | None]:
    items, token = repo.page(user_id, limit, next_token)
    return [to_payment(i) for i in items], token


def pay(
    repo: PaymentsRepository,
    processor: CardProcessor,
    *,
    user_id: str,
    order_id: str,
    card: Card,
    correlation_id: str,
) -> Payment:
    """pending -> paid or declined. Racing requests may all reach the processor (which
    de-duplicates by order id); only one records its result, the others get a conflict."""
    item = repo.get(user_id, order_id, consistent=True)  # the amount to charge lives here
    if item is None:
        raise PaymentNotFoundError(order_id)
    if item["status"] != PaymentStatus.PENDING:
        raise PaymentConflictError(to_payment(item))
    result = processor.charge(idempotency_key=order_id, amount=item["bill"], card=card)
    target = PaymentStatus.PAID if result.approved else PaymentStatus.DECLINED
    fields: dict[str, Any] = {"card": {"brand": brand_of(card.number), "last4": card.last4}}
    if result.decline_reason:
        fields["declineReason"] = result.decline_reason
    try:
        updated = repo.move(user_id, order_id, target, now=utc_now_iso(), correlation_id=correlation_id, **fields)
    except TransitionRejectedError as rejected:
        if rejected.current is None:
            raise PaymentNotFoundError(order_id) from None
        raise PaymentConflictError(to_payment(rejected.current)) from None
    payment = to_payment(updated)
    count("PaymentsPaid" if result.approved else "PaymentsDeclined")
    logger.info("payment processed", extra={"order_id": order_id, "status": payment.status})
    if not result.approved:
        raise PaymentDeclinedError(payment)
    return payment


def open_payment(repo: PaymentsRepository, *, user_id: str, order_id: str, bill: Decimal, correlation_id: str) -> None:
    """payment-create-event: a pending payment for the order's bill; a repeat changes nothing."""
    item = new_payment_item(
        user_id=user_id,
        order_id=order_id,
        bill=bill,
        status=PaymentStatus.PENDING,
        now=utc_now_iso(),
        correlation_id=correlation_id,
    )
    if repo.add(item):
        count("PaymentsCreated")
        logger.info("payment created", extra={"order_id": order_id})
    else:
        logger.info("payment already exists", extra={"order_id": order_id})


def settle_cancelled_order(
    repo: PaymentsRepository,
    processor: CardProcessor,
    *,
    user_id: str,
    order_id: str,
    bill: Decimal,
    correlation_id: str,
) -> None:
    """order-cancelled-event: pending -> voided, paid -> refunded; no payment yet -> a voided one
    (so the late payment-create-event finds it and changes nothing)."""
    for _ in range(_CANCEL_ROUNDS):
        try:
            repo.move(user_id, order_id, PaymentStatus.VOIDED, now=utc_now_iso(), correlation_id=correlation_id)
            count("PaymentsVoided")
            logger.info("payment voided", extra={"order_id": order_id})
            return
        except TransitionRejectedError as rejected:
            current = rejected.current
        if current is None:
            voided = new_payment_item(
                user_id=user_id,
                order_id=order_id,
                bill=bill,
                status=PaymentStatus.VOIDED,
                now=utc_now_iso(),
                correlation_id=correlation_id,
            )
            if repo.add(voided):
                logger.info("payment voided before it was opened", extra={"order_id": order_id})
                return
            continue  # it was created meanwhile: settle it as it is now
        if current["status"] == PaymentStatus.PAID:
            try:
                repo.move(
                    user_id,
                    order_id,
                    PaymentStatus.REFUNDED,
                    now=utc_now_iso(),
                    correlation_id=correlation_id,
                )
                count("PaymentsRefunded")
            except TransitionRejectedError:
                continue
            current = {**current, "status": PaymentStatus.REFUNDED}
        if current["status"] == PaymentStatus.REFUNDED:
            # Repeated on a redelivery so a failed provider call is retried; the key makes it once.
            processor.refund(idempotency_key=order_id, amount=current["bill"])
            logger.info("payment refunded", extra={"order_id": order_id})
        return
    raise RuntimeError(f"payment of order {order_id} kept changing while being cancelled")
