"""OrdersInbox consumer: payment results confirm or decline orders; the batch's confirmed orders are
delivered by one Step Functions execution (orders.delivery)."""

from orders import service
from orders.delivery import StepFunctionsDeliveryScheduler
from orders.repository import OrdersRepository, delivered_statement
from platform_core.config import aws_client, require_env
from platform_core.events import PaymentProcessedEvent
from platform_core.inbox import Route, make_inbox

orders_table = require_env("ORDERS_TABLE_NAME")
scheduler = StepFunctionsDeliveryScheduler(
    aws_client("stepfunctions"),
    require_env("DELIVERY_STATE_MACHINE_ARN"),
    delivered_statement(orders_table),
    int(require_env("DELIVERY_DELAY_SECONDS")),
)
deps = service.OrdersDeps(OrdersRepository(aws_client("dynamodb"), orders_table), scheduler)


def on_payment_processed(event: PaymentProcessedEvent) -> None:
    data = event["data"]
    service.apply_payment_result(
        deps,
        user_id=data["userId"],
        order_id=data["orderId"],
        payment_status=data["status"],
        correlation_id=event["correlationId"],
    )


handler = make_inbox(Route(PaymentProcessedEvent, on_payment_processed), batch=scheduler)
