"""The events between the services: one TypedDict per event type, for the envelope and its data.

Every message carries the envelope {"id", "type", "source", "time", "correlationId", "data"}. Publishers
build it from these types (platform_core.outbox), consumers validate it against them (platform_core.inbox),
and `make events` generates the event catalogue (asyncapi.json) from them. TypedDicts cost nothing at
import, so the publishers' cold start does not pay for pydantic; typing_extensions' TypedDict: the one
pydantic validates on every Python version (and the publishers import it already, through Powertools).
The publishers always send every field; the fields no consumer needs are NotRequired, so a consumer
accepts an event without them (a tolerant reader), and a field added later does not break an old consumer.
"""

from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, NotRequired, get_args, get_type_hints

from typing_extensions import TypedDict

from platform_core.statuses import OrderStatus, PaymentResult


class EventType(StrEnum):
    PAYMENT_CREATE = "payment-create-event"
    PAYMENT_PROCESSED = "payment-processed-event"
    ORDER_CANCELLED = "order-cancelled-event"
    ORDER_DELIVERED = "order-delivered-event"


class OrderData(TypedDict):
    """The order the event is about: its id, its user and its bill (a JSON number)."""

    orderId: str
    userId: str
    bill: Decimal


class OrderCancelledData(OrderData):
    """The cancelled order, and the status it was cancelled from (informative: no consumer needs it)."""

    previousStatus: NotRequired[OrderStatus | None]


class PaymentProcessedData(OrderData):
    """The order whose payment was charged, the outcome, and why a declined card was declined
    (informative: no consumer needs it)."""

    status: PaymentResult
    declineReason: NotRequired[str | None]


class _Envelope(TypedDict):
    id: str
    source: str
    time: str
    correlationId: str


class PaymentCreateEvent(_Envelope):
    """Orders -> payments: an order was created; payments opens a pending payment for its bill."""

    type: Literal[EventType.PAYMENT_CREATE]
    data: OrderData


class OrderCancelledEvent(_Envelope):
    """Orders -> payments: an order was cancelled; payments voids or refunds its payment."""

    type: Literal[EventType.ORDER_CANCELLED]
    data: OrderCancelledData


class OrderDeliveredEvent(_Envelope):
    """Orders -> anyone: an order was delivered (no service subscribes yet)."""

    type: Literal[EventType.ORDER_DELIVERED]
    data: OrderData


class PaymentProcessedEvent(_Envelope):
    """Payments -> orders: a payment was paid or declined; orders confirms or declines the order."""

    type: Literal[EventType.PAYMENT_PROCESSED]
    data: PaymentProcessedData


EVENT_MODELS: tuple[Any, ...] = (PaymentCreateEvent, OrderCancelledEvent, OrderDeliveredEvent, PaymentProcessedEvent)

# What a publisher turns a change into: the event's type and its data, paired as the models pair them.
EventBody = (
    tuple[Literal[EventType.PAYMENT_CREATE], OrderData]
    | tuple[Literal[EventType.ORDER_CANCELLED], OrderCancelledData]
    | tuple[Literal[EventType.ORDER_DELIVERED], OrderData]
    | tuple[Literal[EventType.PAYMENT_PROCESSED], PaymentProcessedData]
)


def event_type_of(model: Any) -> EventType:
    """The type an event model carries: the value of its `type` literal."""
    (event_type,) = get_args(get_type_hints(model)["type"])
    return EventType(event_type)
