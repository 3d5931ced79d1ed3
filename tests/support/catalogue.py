"""Events checked against the committed event catalogue (asyncapi.json), as any other team would check them."""

import functools
import json
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.support.lambda_env import ROOT

CATALOGUE = ROOT / "asyncapi.json"
_URI = "urn:order-platform:asyncapi"


@functools.cache
def catalogue() -> dict[str, Any]:
    return json.loads(CATALOGUE.read_text())


def message_of(event_type: str) -> dict[str, Any] | None:
    """The catalogue's message whose name is this event type, or None."""
    return next((m for m in catalogue()["components"]["messages"].values() if m["name"] == event_type), None)


@functools.cache
def _resolving(schema_ref: str) -> Draft202012Validator:
    """A validator for one of the catalogue's schemas, resolving its $refs inside the catalogue."""
    resource = Resource.from_contents(catalogue(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_URI, resource)
    return Draft202012Validator({"$ref": _URI + schema_ref}, registry=registry)


def event_errors(envelope: Any) -> list[str]:
    """Why the envelope is not an event of the catalogue (empty when it is one)."""
    event_type = envelope.get("type") if isinstance(envelope, dict) else None
    message = message_of(event_type) if isinstance(event_type, str) else None
    if message is None:
        return [f"no message of type {event_type!r} in {CATALOGUE.name}"]
    validator = _resolving(message["payload"]["$ref"])
    return [f"{'/'.join(map(str, e.absolute_path)) or '(event)'}: {e.message}" for e in validator.iter_errors(envelope)]


def headers_errors(event_type: str, attributes: dict[str, Any]) -> list[str]:
    """Why SNS message attributes ({"type": "..."}) do not match the catalogue's headers for that event."""
    message = message_of(event_type)
    if message is None:
        return [f"no message of type {event_type!r} in {CATALOGUE.name}"]
    return [e.message for e in Draft202012Validator(message["headers"]).iter_errors(attributes)]


def assert_event(envelope: Any) -> None:
    errors = event_errors(envelope)
    assert not errors, f"not an event of {CATALOGUE.name}: " + "; ".join(errors)


# Ways to break a payment-create-event: the consumer refuses each, and so does the catalogue's schema.
MALFORMED_PAYMENT_CREATE: dict[str, Callable[[dict], None]] = {
    "no userId": lambda m: m["data"].pop("userId"),
    "bill not a number": lambda m: m["data"].update(bill="two thousand"),
    "bill a boolean": lambda m: m["data"].update(bill=True),
    "orderId a number": lambda m: m["data"].update(orderId=7),
    "no data": lambda m: m.pop("data"),
    "data a list": lambda m: m.update(data=[1, 2]),
    "no id": lambda m: m.pop("id"),
    "no correlationId": lambda m: m.pop("correlationId"),
    "type not a string": lambda m: m.update(type=["payment-create-event"]),
    "an empty object": lambda m: m.clear(),
}
