"""`make redrive-events` and `make replay` against a running local stack, from a shell with no AWS settings.

The local stack's AWS is a moto server; the commands find it through the endpoint file `make run` writes
(.devstack/endpoint.json). They run as `python -m tools.ops` in a child process whose environment holds no
AWS_* variable and whose HOME has no ~/.aws: region and credentials must come from the tool itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.lambda_env import ROOT, AwsHarness


@pytest.fixture
def ops(aws: AwsHarness, tmp_path: Path):
    endpoint_file = tmp_path / "endpoint.json"
    endpoint_file.write_text(
        json.dumps({"aws_endpoint": aws.endpoint, "queues": {q.logical_id: q.url for q in aws.model.queues.values()}})
    )
    shell = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    shell["HOME"] = str(tmp_path)  # no ~/.aws/config or credentials either

    def run(*args: str) -> str:
        proc = subprocess.run(  # noqa: S603 - our own tool
            [sys.executable, "-m", "tools.ops", "--endpoint-file", str(endpoint_file), *args],
            cwd=ROOT,
            env=shell,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    return run


def test_redrive_events_moves_an_undelivered_event_to_its_inbox(aws: AwsHarness, ops):
    envelope = {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": aws.model.topics["OrdersTopic"].arn,
        "Message": json.dumps({"id": "evt-1", "type": "payment-create-event", "data": {"orderId": "o-1"}}),
        "MessageAttributes": {"type": {"Type": "String", "Value": "payment-create-event"}},
    }
    aws.client("sqs").send_message(QueueUrl=aws.physical_id("EventDeliveryDLQ"), MessageBody=json.dumps(envelope))

    out = ops("redrive-events")

    assert out.startswith("moved 1 messages from EventDeliveryDLQ to their inboxes; 0 left")
    assert [json.loads(m["Body"]) for m in aws.receive_all("PaymentsInbox")] == [envelope]
    assert aws.receive_all("EventDeliveryDLQ") == []


def test_replay_asks_the_failed_batchs_items_to_publish_again(aws: AwsHarness, ops):
    ddb = aws.client("dynamodb")
    table = aws.physical_id("OrdersTable")
    written = "2026-12-01T10:00:00.000Z"
    ddb.put_item(
        TableName=table,
        Item={
            "userId": {"S": "alice"},
            "orderId": {"S": "01JREPLAY000000000000000000"},
            "status": {"S": "created"},
            "updatedAt": {"S": written},
        },
    )
    stream = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    failure = {"DDBStreamBatchInfo": {"streamArn": stream, "approximateArrivalOfFirstRecord": written}}
    aws.client("sqs").send_message(QueueUrl=aws.physical_id("OutboxFailureQueue"), MessageBody=json.dumps(failure))

    out = ops("replay")

    assert out == f"{table}: 1 items asked to republish their events\n"
    (order,) = aws.items("OrdersTable")
    assert order["republishRequestedAt"] > written
    assert aws.receive_all("OutboxFailureQueue") == []
    assert ops("replay") == "nothing to replay (OutboxFailureQueue is empty)\n"
