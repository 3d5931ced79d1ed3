"""An Idempotency-Key lives 24 hours, whether or not DynamoDB's TTL has deleted its records yet, and whatever
the idempotency store answers, a request is never a 500."""

from __future__ import annotations

import inspect
import sys
import time
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import exceptions as powertools_errors

from tests.support.lambda_env import ApiRequest, AwsHarness, LambdaContext, Response, api_event

DAY = 24 * 60 * 60


def _create(handler: Any, key: str, bill: int = 10) -> Response:
    event = api_event("create-order.json", ApiRequest(body={"bill": bill}, headers={"Idempotency-Key": key}))
    return Response.of(handler(event, LambdaContext(function_name="CreateOrderFunction")))


def _age_records(aws: AwsHarness, seconds_ago: int) -> int:
    """What a day later looks like before TTL has run: every record is there, its expiration passed."""
    client, table = aws.client("dynamodb"), aws.physical_id("IdempotencyTable")
    items = client.scan(TableName=table)["Items"]
    for item in items:
        client.update_item(
            TableName=table,
            Key={"id": item["id"]},
            UpdateExpression="SET #e = :e",
            ExpressionAttributeNames={"#e": "expiration"},
            ExpressionAttributeValues={":e": {"N": str(int(time.time()) - seconds_ago)}},
        )
    return len(items)


def test_a_key_past_its_24_hours_starts_afresh_before_ttl_has_deleted_its_records(aws: AwsHarness, monkeypatch):
    handler = aws.handler("CreateOrderFunction", monkeypatch)
    first = _create(handler, "daily-key")
    assert first.status == 201
    assert _create(handler, "daily-key").body == first.body  # within the day: the same order
    assert _age_records(aws, seconds_ago=1) == 2  # Powertools' record and the order-id reservation

    again = _create(handler, "daily-key")
    assert again.status == 201, again.body
    assert again.body["data"]["id"] != first.body["data"]["id"]  # a new order, not the old one's id
    assert sorted(o["orderId"] for o in aws.items("OrdersTable")) == sorted(
        [first.body["data"]["id"], again.body["data"]["id"]]
    )
    assert _create(handler, "daily-key").body == again.body  # and the fresh key replays its own order


def test_a_reservation_is_kept_for_its_lifetime_and_taken_afresh_after(aws: AwsHarness, monkeypatch):
    aws.handler("CreateOrderFunction", monkeypatch)  # the function's environment, freshly imported
    idempotency = sys.modules["platform_core.idempotency"]
    request = idempotency.KeyedRequest(("create-order",), "alice", "k", {"bill": 10})
    start = 1_900_000_000.0

    def at(moment: float) -> Any:
        return lambda: moment

    assert idempotency.reserve(request, {"orderId": "A"}, clock=at(start)) == {"orderId": "A"}
    assert idempotency.reserve(request, {"orderId": "B"}, clock=at(start + DAY)) == {"orderId": "A"}
    assert idempotency.reserve(request, {"orderId": "C"}, clock=at(start + DAY + 1)) == {"orderId": "C"}
    assert idempotency.reserve(request, {"orderId": "D"}, clock=at(start + DAY + 2)) == {"orderId": "C"}
    other_body = idempotency.KeyedRequest(("create-order",), "alice", "k", {"bill": 11})
    with pytest.raises(idempotency.KeyReusedError):
        idempotency.reserve(other_body, {"orderId": "E"}, clock=at(start + DAY + 3))


POWERTOOLS_ERRORS = sorted(
    (
        cls
        for _, cls in inspect.getmembers(powertools_errors, inspect.isclass)
        if issubclass(cls, powertools_errors.BaseError) and cls is not powertools_errors.BaseError
    ),
    key=lambda cls: cls.__name__,
)


@pytest.mark.parametrize("error", POWERTOOLS_ERRORS, ids=[cls.__name__ for cls in POWERTOOLS_ERRORS])
def test_every_powertools_idempotency_error_is_409_or_503_with_retry_after(aws: AwsHarness, monkeypatch, error):
    assert len(POWERTOOLS_ERRORS) >= 12  # the whole family, as Powertools 3 defines it
    handler = aws.handler("CreateOrderFunction", monkeypatch)
    idempotency = sys.modules["platform_core.idempotency"]

    def failing_replay(**_: Any) -> Any:
        raise error("the store says no")

    config = SimpleNamespace(register_lambda_context=lambda context: None)
    monkeypatch.setattr(idempotency, "_replayer", lambda: (failing_replay, config))
    response = _create(handler, "troubled-key")
    assert response.status in (409, 503), (error.__name__, response.status, response.body)
    assert response.headers["Content-Type"] == "application/problem+json"
    if response.status == 503 or error is powertools_errors.IdempotencyAlreadyInProgressError:
        assert response.headers["Retry-After"] == "1"
    assert "the store says no" not in str(response.body)
    assert aws.items("OrdersTable") == []
