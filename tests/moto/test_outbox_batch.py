"""The stream publishers send events with SNS PublishBatch: at most 10 a call, in stream order, and a batch
that fails part-way is reported record by record from its first failure on (the stream retries from there).

Against moto (the topic, its subscriptions and the inbox queues of the template), and against a stub SNS
client whose answers name failed entries, which moto never does."""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from devstack.aws import Fault
from tests.support.lambda_env import AwsHarness, LambdaContext, load_event

SAMPLE = load_event("orders-stream-created.json")["Records"][0]


def created(n: int, user: str = "alice") -> dict[str, Any]:
    """A stream record: order n of ``user`` inserted with status created (a payment-create-event)."""
    record = copy.deepcopy(SAMPLE)
    order_id = f"01JD{n:022d}"
    record["eventID"] = f"event-{user}-{n}"
    ddb = record["dynamodb"]
    ddb["SequenceNumber"] = f"{100 + n:021d}"
    ddb["Keys"] = {"userId": {"S": user}, "orderId": {"S": order_id}}
    ddb["NewImage"].update(userId={"S": user}, orderId={"S": order_id})
    return record


def cancelled(after: dict[str, Any], seq: int) -> dict[str, Any]:
    """The same order's next change: created -> cancelled (an order-cancelled-event)."""
    record = copy.deepcopy(after)
    record["eventID"] += "-cancelled"
    record["eventName"] = "MODIFY"
    ddb = record["dynamodb"]
    ddb["SequenceNumber"] = f"{100 + seq:021d}"
    ddb["OldImage"] = copy.deepcopy(ddb["NewImage"])
    ddb["NewImage"]["status"] = {"S": "cancelled"}
    return record


def seq(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def failures(result: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in result["batchItemFailures"]]


def published_ids(aws: AwsHarness) -> list[str]:
    return [json.loads(json.loads(m["Body"])["Message"])["id"] for m in aws.receive_all("PaymentsInbox")]


def sns_calls(aws: AwsHarness) -> dict[str, int]:
    counts = aws.server.middleware.counts() if aws.server.middleware else {}
    return {op: c for (service, op), c in counts.items() if service == "sns" and op.startswith("Publish")}


# ------------------------------------------------------------------ through moto


def test_25_events_go_out_in_3_calls_of_at_most_10(aws: AwsHarness, monkeypatch):
    handler = aws.handler("OrdersPublisherFunction", monkeypatch)
    records = [created(n) for n in range(25)]
    aws.server.middleware.reset()
    result = handler({"Records": records}, LambdaContext(function_name="OrdersPublisherFunction"))
    assert result == {"batchItemFailures": []}
    assert sns_calls(aws) == {"PublishBatch": 3}
    assert sorted(published_ids(aws)) == sorted(r["eventID"] for r in records)


def test_two_events_of_one_order_never_share_a_call(aws: AwsHarness, monkeypatch):
    handler = aws.handler("OrdersPublisherFunction", monkeypatch)
    first = created(1)
    aws.server.middleware.reset()
    records = [first, created(2), cancelled(first, 3)]
    assert handler({"Records": records}, LambdaContext())["batchItemFailures"] == []
    # created(1) and created(2) share the first call; the cancellation of order 1 waits for the next one.
    assert sns_calls(aws) == {"PublishBatch": 2}
    types = sorted(json.loads(json.loads(m["Body"])["Message"])["type"] for m in aws.receive_all("PaymentsInbox"))
    assert types == ["order-cancelled-event", "payment-create-event", "payment-create-event"]


def test_a_throttled_second_call_fails_its_records_and_every_later_one(aws: AwsHarness, monkeypatch):
    records = [created(n) for n in range(25)]
    calls = 0

    class SecondCallThrottled:
        def __init__(self, real: Any) -> None:
            self.real = real

        def publish_batch(self, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 2:
                aws.server.faults.inject(Fault(service="sns", operation="PublishBatch", code="Throttling", times=10))
            try:
                return self.real.publish_batch(**kwargs)
            finally:
                aws.server.faults.clear()

    handler = handler_with_sns(aws, monkeypatch, SecondCallThrottled)
    result = handler({"Records": records}, LambdaContext())
    assert failures(result) == [seq(r) for r in records[10:]]
    assert calls == 2  # nothing after the failed call is sent: it would overtake the failed events
    assert sorted(published_ids(aws)) == sorted(r["eventID"] for r in records[:10])


def test_when_sns_is_down_the_whole_batch_fails_and_is_retried_whole(aws: AwsHarness, monkeypatch):
    handler = aws.handler("OrdersPublisherFunction", monkeypatch)
    aws.server.faults.inject(Fault(service="sns", operation="PublishBatch", status=503, code="ServiceUnavailable"))
    with pytest.raises(BatchProcessingError):  # every record failed: a function error, the stream bisects
        handler({"Records": [created(n) for n in range(3)]}, LambdaContext())
    aws.server.faults.clear()
    assert published_ids(aws) == []


def test_a_record_its_mapping_cannot_read_fails_there_and_holds_back_the_rest(aws: AwsHarness, monkeypatch):
    handler = aws.handler("OrdersPublisherFunction", monkeypatch)
    records = [created(n) for n in range(5)]
    del records[2]["dynamodb"]["NewImage"]["bill"]  # an item without its bill: order_event raises
    result = handler({"Records": records}, LambdaContext())
    assert failures(result) == [seq(r) for r in records[2:]]
    assert sorted(published_ids(aws)) == sorted(r["eventID"] for r in records[:2])


def test_one_entry_per_call_when_configured(aws: AwsHarness, monkeypatch):
    monkeypatch.setenv("OUTBOX_MAX_ENTRIES_PER_CALL", "1")  # survives aws.handler: not a template variable
    handler = aws.handler("OrdersPublisherFunction", monkeypatch)
    aws.server.middleware.reset()
    assert handler({"Records": [created(n) for n in range(4)]}, LambdaContext())["batchItemFailures"] == []
    assert sns_calls(aws) == {"PublishBatch": 4}


@pytest.mark.parametrize("value", ["0", "11"])
def test_a_batch_size_sns_refuses_fails_at_start_up(aws: AwsHarness, monkeypatch, value: str):
    monkeypatch.setenv("OUTBOX_MAX_ENTRIES_PER_CALL", value)
    with pytest.raises(ValueError, match="OUTBOX_MAX_ENTRIES_PER_CALL"):
        aws.handler("OrdersPublisherFunction", monkeypatch)


# ------------------------------------------------------------------ failed entries (a stub: moto never fails one)


class RefusingSns:
    """Answers PublishBatch as SNS does when some entries fail: Successful and Failed, by entry Id."""

    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse  # event ids whose entries are refused
        self.calls: list[list[str]] = []

    def publish_batch(self, TopicArn: str, PublishBatchRequestEntries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        ids = [json.loads(e["Message"])["id"] for e in PublishBatchRequestEntries]
        self.calls.append(ids)
        ok, failed = [], []
        for entry, event_id in zip(PublishBatchRequestEntries, ids, strict=True):
            if event_id in self.refuse:
                failed.append({"Id": entry["Id"], "Code": "InternalError", "SenderFault": False})
            else:
                ok.append({"Id": entry["Id"], "MessageId": f"m-{event_id}"})
        return {"Successful": ok, "Failed": failed}


def handler_with_sns(aws: AwsHarness, monkeypatch: Any, wrap: Any) -> Any:
    """The publisher's handler, its SNS client (created at import) replaced by ``wrap(real client)``."""
    real = boto3.client

    def client(service: str, *args: Any, **kwargs: Any) -> Any:
        made = real(service, *args, **kwargs)  # type: ignore[call-overload]
        return wrap(made) if service == "sns" else made

    monkeypatch.setattr(boto3, "client", client)
    return aws.handler("OrdersPublisherFunction", monkeypatch)


def test_a_refused_entry_fails_from_itself_on_and_no_later_call_is_made(aws: AwsHarness, monkeypatch):
    records = [created(n) for n in range(25)]
    stub = RefusingSns(refuse={records[13]["eventID"]})
    handler = handler_with_sns(aws, monkeypatch, lambda _real: stub)
    result = handler({"Records": records}, LambdaContext())
    # Entries 0-12 are out; 13 was refused; 14-19 went out in the same call but are retried with it, so
    # no event of the batch is published after a failed one and left at that; 20-24 were never sent.
    assert failures(result) == [seq(r) for r in records[13:]]
    assert [len(c) for c in stub.calls] == [10, 10]


def test_a_refused_entry_is_published_on_the_retry_from_it(aws: AwsHarness, monkeypatch):
    records = [created(n) for n in range(12)]
    stub = RefusingSns(refuse={records[3]["eventID"]})
    handler = handler_with_sns(aws, monkeypatch, lambda _real: stub)
    first = handler({"Records": records}, LambdaContext())
    retry_from = failures(first)[0]
    stub.refuse.clear()
    retried = [r for r in records if seq(r) >= retry_from]  # what Lambda sends again: from the lowest failure
    assert handler({"Records": retried}, LambdaContext()) == {"batchItemFailures": []}
    sent = [event_id for call in stub.calls for event_id in call]
    assert set(sent) == {r["eventID"] for r in records}
