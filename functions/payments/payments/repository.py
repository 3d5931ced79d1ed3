"""PaymentsTable: partition key userId, sort key orderId (one payment per order)."""

from decimal import Decimal
from typing import Any

from payments.domain import TRANSITIONS, PaymentStatus
from platform_core.dynamo import Table


class PaymentsRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self.table = Table(client, table_name, sort_key="orderId")

    def add(self, item: dict[str, Any]) -> bool:
        return self.table.put_new(item)

    def get(self, user_id: str, order_id: str, *, consistent: bool = False) -> dict[str, Any] | None:
        return self.table.get(user_id, order_id, consistent=consistent)

    def page(self, user_id: str, limit: int, next_token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return self.table.query_page(user_id, limit, next_token)

    def move(
        self,
        user_id: str,
        order_id: str,
        target: PaymentStatus,
        *,
        now: str,
        correlation_id: str,
        **fields: Any,
    ) -> dict[str, Any]:
        """Conditional status change; raises TransitionRejectedError with the current item."""
        return self.table.transition(
            user_id,
            order_id,
            to_status=target,
            allowed_from=TRANSITIONS[target],
            fields={"updatedAt": now, "correlationId": correlation_id, **fields},
        )


def new_payment_item(
    *, user_id: str, order_id: str, bill: Decimal, status: PaymentStatus, now: str, correlation_id: str
) -> dict[str, Any]:
    return {
        "userId": user_id,
        "orderId": order_id,
        "bill": bill,
        "status": status.value,
        "createdAt": now,
        "updatedAt": now,
        "correlationId": correlation_id,
    }
