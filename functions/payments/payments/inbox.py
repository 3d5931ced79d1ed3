"""PaymentsInbox consumer: order events open, void and refund payments."""

from payments import service
from payments.processor import sandbox_processor
from payments.repository import PaymentsRepository
from platform_core.config import aws_client, require_env
from platform_core.events import OrderCancelledEvent, PaymentCreateEvent
from platform_core.inbox import Route, make_inbox

dynamodb = aws_client("dynamodb")
repo = PaymentsRepository(dynamodb, require_env("PAYMENTS_TABLE_NAME"))
deps = service.PaymentsDeps(repo, sandbox_processor(dynamodb))


def on_payment_create(event: PaymentCreateEvent) -> None:
    data = event["data"]
    service.open_payment(
        repo,
        user_id=data["userId"],
        order_id=data["orderId"],
        bill=data["bill"],
        correlation_id=event["correlationId"],
    )


def on_order_cancelled(event: OrderCancelledEvent) -> None:
    data = event["data"]
    service.settle_cancelled_order(
        deps,
        user_id=data["userId"],
        order_id=data["orderId"],
        bill=data["bill"],
        correlation_id=event["correlationId"],
    )


handler = make_inbox(Route(PaymentCreateEvent, on_payment_create), Route(OrderCancelledEvent, on_order_cancelled))
