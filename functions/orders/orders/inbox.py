"""OrdersInbox consumer: payment results confirm or decline orders; a confirmation starts delivery."""

from orders import service
from orders.delivery import StepFunctionsDeliveryScheduler
from orders.repository import OrdersRepository
from platform_core.config import aws_client, require_env
from platform_core.events import EventType
from platform_core.inbox import Envelope, make_inbox

repo = OrdersRepository(aws_client("dynamodb"), require_env("ORDERS_TABLE_NAME"))
scheduler = StepFunctionsDeliveryScheduler(aws_client("stepfunctions"), require_env("DELIVERY_STATE_MACHINE_ARN"))


def on_payment_processed(event: Envelope) -> None:
    data = event.data
    service.apply_payment_result(
        repo,
        scheduler,
        user_id=str(data["userId"]),
        order_id=str(data["orderId"]),
        payment_status=str(data["status"]),
        correlation_id=event.correlationId,
    )


handler = make_inbox({EventType.PAYMENT_PROCESSED: on_payment_processed})
