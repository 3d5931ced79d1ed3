"""The publishers' stream FilterCriteria and the publishers themselves must agree.

The FilterCriteria are the ones CloudFormation receives (the event source mappings after the SAM transform,
tests/support/sam_template.py); the pattern language is applied by the local stack's matcher (devstack.events.filters,
tested below against the patterns AWS documents).

The filter saves an invocation for every stream record that is no event; if it ever dropped a
record the publisher would publish, that event would be lost without a trace. So: for every
status change the domains allow (and the inserts), the filter admits the record exactly when
the publisher turns it into an event.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, get_type_hints

import pytest
from boto3.dynamodb.types import TypeSerializer
from pydantic import TypeAdapter

from devstack.events.filters import FilterPatternError, admits, matches, parse_filter_criteria
from orders.domain import TRANSITIONS as ORDER_TRANSITIONS
from orders.domain import OrderStatus
from payments.domain import TRANSITIONS as PAYMENT_TRANSITIONS
from payments.domain import PaymentStatus
from platform_core.events import EVENT_MODELS, event_type_of
from platform_core.jsonutil import to_plain
from platform_core.statuses import PAYMENT_RESULTS
from tests.support.sam_template import SamTemplate, sam_template
from tools.event_catalogue import TOPICS

_serialize = TypeSerializer().serialize


def _image(status: str) -> dict[str, Any]:
    item = {"userId": "u1", "orderId": "01JORDER", "bill": 12, "status": status, "correlationId": "c1"}
    return {k: _serialize(v) for k, v in item.items()}


def _record(old: str | None, new: str) -> dict[str, Any]:
    """A stream record as Lambda hands it to the function (and as the filter sees it)."""
    ddb: dict[str, Any] = {
        "Keys": {"userId": {"S": "u1"}, "orderId": {"S": "01JORDER"}},
        "NewImage": _image(new),
        "SequenceNumber": "1",
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if old is not None:
        ddb["OldImage"] = _image(old)
    return {"eventName": "INSERT" if old is None else "MODIFY", "eventSource": "aws:dynamodb", "dynamodb": ddb}


def _changes(transitions: dict[Any, frozenset[Any]], inserted: list[str]) -> list[tuple[str | None, str]]:
    moves = [(str(src), str(dst)) for dst, sources in transitions.items() for src in sources]
    return [*((None, s) for s in inserted), *moves]


@pytest.fixture(scope="module")
def sam() -> SamTemplate:
    return sam_template()


def _publisher(sam: SamTemplate, logical_id: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    for name, value in sam.import_environment(logical_id).items():
        monkeypatch.setenv(name, value)
    module = importlib.import_module(sam.functions[logical_id].handler.rpartition(".")[0])
    return getattr(module, {"orders": "order_event", "payments": "payment_event"}[module.__name__.split(".")[0]])


CASES = [
    # An insert in any status counts too: the publisher reads a stream record as "moved to", whatever
    # came before it (a record can arrive first for an item whose earlier records went elsewhere).
    ("OrdersPublisherFunction", _changes(ORDER_TRANSITIONS, list(OrderStatus))),
    ("PaymentsPublisherFunction", _changes(PAYMENT_TRANSITIONS, list(PaymentStatus))),
]


@pytest.mark.parametrize(("logical_id", "changes"), CASES, ids=[c[0] for c in CASES])
def test_filter_admits_exactly_the_records_that_become_events(sam, monkeypatch, logical_id, changes):
    (source,) = sam.sources_of(logical_id, "dynamodb-stream")
    assert source.filter_criteria, f"{logical_id} has no FilterCriteria: every stream record would invoke it"
    filters = parse_filter_criteria(source.filter_criteria, source.logical_id)
    assert filters
    event_of = _publisher(sam, logical_id, monkeypatch)
    published = set()
    types = set()
    for old, new in changes:
        record = _record(old, new)
        image = {"status": new, "orderId": "01JORDER", "userId": "u1", "bill": 12}
        event = event_of({"status": old} if old else None, image)
        is_event = event is not None
        assert admits(filters, record) == is_event, (old, new, is_event)
        if event is not None:
            published.add((old, new))
            types.add(event[0])
            # ... and what it publishes is an event its consumers accept (they validate against the same model).
            (model,) = [m for m in EVENT_MODELS if event_type_of(m) == event[0]]
            TypeAdapter(get_type_hints(model)["data"]).validate_python(to_plain(event[1]))
    assert published, "no status change publishes anything?"
    # ... and the event catalogue lists exactly the types this publisher sends.
    (sent,) = [names for _, publisher, names in TOPICS.values() if publisher == logical_id]
    assert types == {event_type_of(model) for model in EVENT_MODELS if model.__name__ in sent}


def test_filter_language_subset():
    record = {"eventName": "MODIFY", "dynamodb": {"NewImage": {"status": {"S": "paid"}, "n": {"N": "5"}}}}
    assert matches({"eventName": ["MODIFY"]}, record)
    assert not matches({"eventName": ["INSERT"]}, record)
    assert matches({"dynamodb": {"NewImage": {"status": {"S": [{"prefix": "pa"}]}}}}, record)
    assert matches({"dynamodb": {"NewImage": {"status": {"S": [{"suffix": "id"}]}}}}, record)
    assert matches({"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": ["declined"]}]}}}}, record)
    assert not matches({"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": {"prefix": "p"}}]}}}}, record)
    assert matches({"dynamodb": {"OldImage": [{"exists": False}]}}, record)
    assert not matches({"dynamodb": {"OldImage": {"status": {"S": ["paid"]}}}}, record)  # absent key
    assert not matches({"dynamodb": {"NewImage": {"missing": {"S": [{"anything-but": "x"}]}}}}, record)
    assert matches({"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": [{"exists": True}]}}, record)
    assert matches({"n": [{"numeric": [">", 1, "<=", 5]}]}, {"n": 5})
    assert not matches({"n": [{"numeric": [">", 5]}]}, {"n": 5})
    assert matches({"tags": ["b"]}, {"tags": ["a", "b"]})  # a list value matches if any element does
    assert matches({"v": [None]}, {"v": None}) and not matches({"v": [None]}, {})
    assert admits([], record), "no FilterCriteria: every record"


@pytest.mark.parametrize(
    "pattern",
    [
        '{"eventName": "INSERT"}',  # a value must be a list
        '{"eventName": []}',
        '{"a": [{"wildcard": "x*"}]}',  # not emulated: refused rather than misread
        '{"a": [{"prefix": "x", "suffix": "y"}]}',
        '{"a": [{"numeric": [">"]}]}',
        "not json",
        "{}",
    ],
)
def test_patterns_the_emulator_cannot_apply_are_refused(pattern):
    with pytest.raises(FilterPatternError):
        parse_filter_criteria({"Filters": [{"Pattern": pattern}]}, "Fn.Stream")


def test_the_payment_claim_is_covered_and_publishes_nothing():
    (_, changes) = CASES[1]
    claim_moves = {c for c in changes if PaymentStatus.PROCESSING in c}
    assert {("pending", "processing"), ("processing", "paid"), ("processing", "declined")} <= claim_moves
    assert (None, "processing") in changes


def test_the_payments_publisher_sends_exactly_the_payment_results(sam, monkeypatch):
    """A payment that reaches a status of PaymentResult (the event model's field) is published, no other."""
    event_of = _publisher(sam, "PaymentsPublisherFunction", monkeypatch)
    image = {"orderId": "01JORDER", "userId": "u1", "bill": 12}
    sent = {status for status in PaymentStatus if event_of(None, {**image, "status": status.value}) is not None}
    assert sent == PAYMENT_RESULTS
