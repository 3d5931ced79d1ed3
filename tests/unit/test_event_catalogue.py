"""The event catalogue (asyncapi.json) is generated from the event models, committed, sound, and every
sample event in events/ is one of its events."""

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any, get_args, get_type_hints

import pytest
from jsonschema import Draft202012Validator

from orders.domain import ORDER_AFTER_PAYMENT
from platform_core.events import EVENT_MODELS, EventType, OrderCancelledData, PaymentProcessedData, event_type_of
from platform_core.statuses import PAYMENT_RESULTS, OrderStatus, PaymentStatus
from tests.support.catalogue import (
    MALFORMED_PAYMENT_CREATE,
    catalogue,
    event_errors,
    headers_errors,
    message_of,
)
from tests.support.lambda_env import EVENTS, ROOT
from tools.event_catalogue import TARGETS, build_document, render


def test_committed_catalogues_match_the_models():
    expected = render(build_document())
    for path in TARGETS:
        assert path.read_text() == expected, f"{path.relative_to(ROOT)} drifted: run `make events`"


def test_one_message_per_event_type_and_one_model_per_type():
    assert sorted(event_type_of(model) for model in EVENT_MODELS) == sorted(EventType)
    assert sorted(m["name"] for m in catalogue()["components"]["messages"].values()) == sorted(EventType)


def test_event_statuses_are_the_services_enums():
    """The statuses an event carries are members of the services' enums (platform_core.statuses), not a
    parallel list of strings: a payment result is a PaymentStatus the orders consumer maps to an order status,
    and the catalogue lists exactly their values."""
    results = get_args(get_type_hints(PaymentProcessedData)["status"])
    assert results and all(isinstance(result, PaymentStatus) for result in results)
    assert set(results) == PAYMENT_RESULTS == set(ORDER_AFTER_PAYMENT)
    assert get_type_hints(OrderCancelledData)["previousStatus"] == OrderStatus | None
    schemas = catalogue()["components"]["schemas"]
    assert schemas["PaymentProcessedData"]["properties"]["status"]["enum"] == [result.value for result in results]
    assert schemas["OrderStatus"]["enum"] == [status.value for status in OrderStatus]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _pointer(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_the_document_is_sound():
    document = catalogue()
    assert document["asyncapi"] == "3.0.0"
    for ref in _refs(document):
        _pointer(document, ref)
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    for message in document["components"]["messages"].values():
        Draft202012Validator.check_schema(message["headers"])
    for operation in document["operations"].values():
        assert operation["action"] in ("send", "receive")
        channel = operation["channel"]["$ref"]
        # AsyncAPI 3: an operation's messages are messages of its channel.
        assert all(m["$ref"].startswith(f"{channel}/messages/") for m in operation["messages"])


def _sample_events() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(file, SNS message attributes, envelope) of every sample event whose messages carry an event."""
    found = []
    for path in sorted(EVENTS.glob("*.json")):
        for record in json.loads(path.read_text()).get("Records", []):
            if "body" not in record:
                continue  # a stream record: an item, not an event
            body = json.loads(record["body"])
            attributes = {name: a["Value"] for name, a in body.get("MessageAttributes", {}).items()}
            found.append((path.name, attributes, json.loads(body["Message"])))
    return found


def test_every_sample_event_is_an_event_of_the_catalogue():
    samples = _sample_events()
    received = {
        message["$ref"].rpartition("/")[2]
        for operation in catalogue()["operations"].values()
        if operation["action"] == "receive"
        for message in operation["messages"]
    }
    # Every event a consumer receives has a sample to invoke it with.
    assert {envelope["type"] for _, _, envelope in samples} == {
        catalogue()["components"]["messages"][name]["name"] for name in received
    }
    for name, attributes, envelope in samples:
        assert event_errors(envelope) == [], name
        assert headers_errors(envelope["type"], attributes) == [], name


def _sample_payment_create() -> dict[str, Any]:
    (envelope,) = [e for n, _, e in _sample_events() if n == "payments-inbox-payment-create.json"]
    return copy.deepcopy(envelope)


@pytest.mark.parametrize("change", MALFORMED_PAYMENT_CREATE.values(), ids=MALFORMED_PAYMENT_CREATE.keys())
def test_the_catalogue_refuses_what_the_consumers_refuse(change: Callable[[dict], None]):
    envelope = _sample_payment_create()
    assert event_errors(envelope) == []
    change(envelope)
    assert event_errors(envelope) != []


def test_the_catalogue_refuses_an_unknown_status_and_wrong_attributes():
    (envelope,) = [e for n, _, e in _sample_events() if n == "orders-inbox-payment-processed.json"]
    envelope["data"]["status"] = "refunded"
    assert event_errors(envelope) != []
    assert headers_errors("payment-processed-event", {"type": "payment-create-event"}) != []
    assert message_of("no-such-event") is None


def test_the_catalogue_accepts_what_the_consumers_tolerate():
    (envelope,) = [e for n, _, e in _sample_events() if n == "orders-inbox-payment-processed.json"]
    envelope["data"].pop("declineReason")
    envelope["data"]["reason"] = "a field added later"
    assert event_errors(envelope) == []
