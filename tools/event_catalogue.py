"""Builds the event catalogue (an AsyncAPI 3 document) from the event models in platform_core.events.

`python -m tools.event_catalogue --write` (`make events`) refreshes asyncapi.json at the root and the
copy the docs function serves at /asyncapi.json; `--check` (the default) fails when either has drifted.
"""

import json
import sys
from typing import Any

from tools.generated import ROOT, sync

TARGETS = (ROOT / "asyncapi.json", ROOT / "functions/docs/docs/asyncapi.json")

# Who sends what where, as template.yaml wires it (tests/unit/test_template_consistency.py keeps them in step):
# topic -> (the publishing service's EVENT_SOURCE, its publisher function, the model names it publishes)
TOPICS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "OrdersTopic": (
        "orders",
        "OrdersPublisherFunction",
        ("PaymentCreateEvent", "OrderCancelledEvent", "OrderDeliveredEvent"),
    ),
    "PaymentsTopic": ("payments", "PaymentsPublisherFunction", ("PaymentProcessedEvent",)),
}
# consumer function -> (the topic it hears, the SQS queue subscribed to it, the model names its filter lets through)
INBOXES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "PaymentsInboxFunction": ("OrdersTopic", "PaymentsInbox", ("PaymentCreateEvent", "OrderCancelledEvent")),
    "OrdersInboxFunction": ("PaymentsTopic", "OrdersInbox", ("PaymentProcessedEvent",)),
}


def _models() -> dict[str, Any]:
    if str(ROOT / "layers/common") not in sys.path:
        sys.path.insert(0, str(ROOT / "layers/common"))
    from platform_core.events import EVENT_MODELS

    return {model.__name__: model for model in EVENT_MODELS}


def _schemas(models: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema of every event model and of the data types they use, referenced as AsyncAPI components."""
    from pydantic import TypeAdapter
    from pydantic.json_schema import GenerateJsonSchema

    class EventJsonSchema(GenerateJsonSchema):
        def decimal_schema(self, schema: Any) -> dict[str, Any]:
            return {"type": "number"}  # a bill travels as a JSON number, never as a string

        def field_title_should_be_set(self, schema: Any) -> bool:
            return False  # "Orderid" says nothing "orderId" does not

    schemas: dict[str, Any] = {}
    for name, model in models.items():
        schema = TypeAdapter(model).json_schema(
            ref_template="#/components/schemas/{model}", schema_generator=EventJsonSchema
        )
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    return dict(sorted(schemas.items()))


def _message(model: Any) -> dict[str, Any]:
    from platform_core.events import event_type_of

    event_type = event_type_of(model).value
    return {
        "name": event_type,
        "title": event_type,
        "summary": " ".join((model.__doc__ or "").split()),
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "description": "SNS message attributes: subscriptions filter on `type`.",
            "properties": {"type": {"type": "string", "const": event_type}},
            "required": ["type"],
        },
        "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
    }


def _operation(action: str, topic: str, summary: str, names: tuple[str, ...]) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{topic}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{topic}/messages/{name}"} for name in names],
    }


def build_document() -> dict[str, Any]:
    models = _models()
    channels = {
        topic: {
            "address": topic,
            "title": topic,
            "description": f"The SNS topic of the {source} service, fed by its table's stream through {publisher}.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
        }
        for topic, (source, publisher, names) in TOPICS.items()
    }
    operations = {
        publisher: _operation(
            "send",
            topic,
            f"The {source} outbox: a status change in its table becomes an event (source `{source}`).",
            names,
        )
        for topic, (source, publisher, names) in TOPICS.items()
    } | {
        consumer: _operation(
            "receive",
            topic,
            f"Through the SQS queue {queue} (filter on `type`, a DLQ after retries); idempotent.",
            names,
        )
        for consumer, (topic, queue, names) in INBOXES.items()
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Order and payment platform: events",
            "version": "1.0.0",
            "description": "The events between the services, generated from platform_core/events.py (`make events`). "
            'Every message is the envelope {"id", "type", "source", "time", "correlationId", "data"}; '
            "delivery is at least once, so every consumer is idempotent.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": {name: _message(model) for name, model in models.items()},
            "schemas": _schemas(models),
        },
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def main() -> int:
    return sync(__doc__ or "", TARGETS, lambda: render(build_document()), "events")


if __name__ == "__main__":
    sys.exit(main())
