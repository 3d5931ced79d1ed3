"""The event envelope every message carries: {"id", "type", "source", "time", "correlationId", "data"}."""

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventType(StrEnum):
    PAYMENT_CREATE = "payment-create-event"
    PAYMENT_PROCESSED = "payment-processed-event"
    ORDER_CANCELLED = "order-cancelled-event"
    ORDER_DELIVERED = "order-delivered-event"


class Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1)
    type: str = Field(min_length=1)
    source: str = Field(min_length=1)
    time: str
    correlationId: str = ""  # noqa: N815 - the contract's field name
    data: dict[str, Any]


def parse_sqs_body(body: str) -> Envelope:
    """An SQS body is an SNS notification whose Message is the envelope (or the envelope itself
    when the subscription uses raw delivery)."""
    outer = json.loads(body)
    if isinstance(outer, dict) and outer.get("Type") == "Notification" and "Message" in outer:
        outer = json.loads(outer["Message"])
    return Envelope.model_validate(outer)
