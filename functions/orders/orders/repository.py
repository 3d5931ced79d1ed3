"""OrdersTable: partition key userId, sort key orderId (a ULID), so lists are newest-first Queries.

The repository owns the mapping between table items and OrderRecord; the service sees only records.
Every status change is one conditional UpdateItem: the order exists and its status is one of the
target's sources in orders.domain.TRANSITIONS (the delivery state machine writes `delivered` itself,
with the same condition).
"""

from collections.abc import Callable
from typing import Any, Protocol

from orders.domain import TRANSITIONS, OrderStatus
from orders.models import OrderRecord
from platform_core.clock import as_utc_iso
from platform_core.dynamo import Table, Transition, TransitionRejectedError


class OrdersStore(Protocol):
    """What the service needs from storage (OrdersRepository; an in-memory fake in the tests)."""

    def get(self, user_id: str, order_id: str) -> OrderRecord | None: ...

    def page(self, user_id: str, limit: int, next_token: str | None) -> tuple[list[OrderRecord], str | None]: ...

    def add(self, record: OrderRecord) -> bool:
        """Insert unless the order exists; False when it did (never overwritten)."""
        ...

    def move(self, user_id: str, order_id: str, target: OrderStatus, *, now: str, correlation_id: str) -> OrderRecord:
        """Conditional status change; raises TransitionRejectedError with the current record."""
        ...


def to_record(item: dict[str, Any]) -> OrderRecord:
    return OrderRecord(
        id=item["orderId"],
        userId=item["userId"],
        bill=item["bill"],
        status=item["status"],
        createdAt=as_utc_iso(item["createdAt"]),
        updatedAt=as_utc_iso(item["updatedAt"]),  # the state machine writes its own timestamp shape
        correlationId=item.get("correlationId", ""),
    )


def to_item(record: OrderRecord) -> dict[str, Any]:
    """The item as stored: the id under the sort key's name, the bill a Decimal, the status its value."""
    return {
        "userId": record.userId,
        "orderId": record.id,
        "bill": record.bill,
        "status": record.status.value,
        "createdAt": record.createdAt,
        "updatedAt": record.updatedAt,
        "correlationId": record.correlationId,
    }


class OrdersRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self.table = Table(client, table_name, sort_key="orderId")

    def get(self, user_id: str, order_id: str) -> OrderRecord | None:
        item = self.table.get(user_id, order_id)
        return to_record(item) if item else None

    def page(self, user_id: str, limit: int, next_token: str | None) -> tuple[list[OrderRecord], str | None]:
        items, token = self.table.query_page(user_id, limit, next_token)
        return [to_record(i) for i in items], token

    def add(self, record: OrderRecord) -> bool:
        return self.table.put_new(to_item(record))

    def move(self, user_id: str, order_id: str, target: OrderStatus, *, now: str, correlation_id: str) -> OrderRecord:
        try:
            change = Transition(
                to_status=target.value,
                allowed_from=[s.value for s in TRANSITIONS[target]],
                fields={"updatedAt": now, "correlationId": correlation_id},
            )
            item = self.table.transition(user_id, order_id, change)
        except TransitionRejectedError as rejected:
            current = rejected.current
            raise TransitionRejectedError(to_record(current) if current else None) from rejected
        return to_record(item)


def delivered_statement(table_name: str) -> Callable[[str, str, str, str], dict[str, Any]]:
    """The delivery state machine's write, as a PartiQL statement per order (BatchExecuteStatement runs a
    batch's in one call): confirmed -> delivered, the same conditional transition as ``move``. The condition
    is in the WHERE clause: an order that is not confirmed (cancelled, or delivered already) fails it and
    stays as it is, whatever the other orders of the batch do."""
    (source,) = TRANSITIONS[OrderStatus.DELIVERED]  # one source status: a PartiQL equality
    # Every value is a parameter; the table name is the template's.
    text = (
        f'UPDATE "{table_name}" SET "status" = ? SET updatedAt = ? SET correlationId = ? '  # noqa: S608
        'WHERE userId = ? AND orderId = ? AND "status" = ?'
    )

    def statement(user_id: str, order_id: str, at: str, correlation_id: str) -> dict[str, Any]:
        values = [OrderStatus.DELIVERED.value, at, correlation_id, user_id, order_id, source.value]
        return {"Statement": text, "Parameters": [{"S": v} for v in values]}

    return statement
