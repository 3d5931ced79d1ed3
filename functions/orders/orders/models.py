"""Pydantic models at the API edge (they also generate the OpenAPI document)."""

from pydantic import BaseModel, ConfigDict, Field

from orders.domain import OrderStatus
from platform_core.money import Amount, Money


class CreateOrderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bill: Amount


class Order(BaseModel):
    id: str = Field(description="ULID: sorts by creation time.")
    userId: str  # noqa: N815 - the contract's field names
    bill: Money
    status: OrderStatus
    createdAt: str  # noqa: N815
    updatedAt: str  # noqa: N815


class OrderRecord(Order):
    """An OrdersTable item: the order and what only the service needs (OrdersRepository maps it)."""

    correlationId: str = ""  # noqa: N815 - the request or event that wrote it last; the outbox forwards it

    def public(self) -> Order:
        return Order.model_validate(self.model_dump(include=set(Order.model_fields)))


class OrderResponse(BaseModel):
    data: Order


class OrderPage(BaseModel):
    data: list[Order]
    nextToken: str | None = Field(description="Pass back to get the next page; null on the last page.")  # noqa: N815
