"""PaymentsInbox consumer: order events open, void and refund payments."""

from payments import service
from payments.processor import SandboxProcessor
from payments.repository import PaymentsRepository
from platform_core.config import aws_client, require_env
from platform_core.events import EventType
from platform_core.inbox import Envelope, make_inbox
from platform_core.money import to_decimal

repo = PaymentsRepository(aws_client("dynamodb"), require_env("PAYMENTS_TABLE_NAME"))
processor = SandboxProcessor()


def on_payment_create(event: Envelope) -> None:
    data = event.data
    service.open_payment(
        repo,
        user_id=str(data["userId"]),
        order_id=str(data["orderId"]),
        bill=to_decimal(data["bill"]),
        correlation_id=event.correlationId,
    )


def on_order_cancelled(event: Envelope) -> None:
    data = event.data
    service.settle_cancelled_order(
        repo,
        processor,
        user_id=str(data["userId"]),
        order_id=str(data["orderId"]),
        bill=to_decimal(data["bill"]),
        correlation_id=event.correlationId,
    )


handler = make_inbox({EventType.PAYMENT_CREATE: on_payment_create, EventType.ORDER_CANCELLED: on_order_cancelled})
