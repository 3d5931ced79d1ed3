"""Operator commands for the local stack and a deployed stack (docs/operations.md).

    python -m tools.ops replay [--since ISO] [--table OrdersTable ...]   (make replay)
    python -m tools.ops redrive-events                                  (make redrive-events)
    python -m tools.ops reconcile [--hours 24]                          (make reconcile; tools/reconcile.py)

Without `--stack` they talk to the running local stack (.devstack/endpoint.json); with `--stack NAME` to
that CloudFormation stack, with your AWS credentials.

replay: the stream publishers send the batches they give up on (retries or record age exhausted) to
OutboxFailureQueue: a description of the batch (stream, arrival times), not the records. The events are
rebuilt from the tables: every item written since the first failed record (less a minute) gets
`republishRequestedAt` set, and its publisher publishes the event of its current status again
(platform_core/outbox.py). It goes through the stream, the filter and the publisher as any change, so the
topic's policy (only the publisher may publish) holds. Consumers are idempotent: an event sent twice is
harmless. The failure messages are deleted once their tables are replayed.

redrive-events: EventDeliveryDLQ holds what SNS could not deliver to an inbox. `aws sqs
start-message-move-task` cannot move it (that API only takes DLQs whose source is an SQS queue), so each
message is received, sent to every inbox queue whose subscription of that topic uses this DLQ and whose
filter policy admits the event type, and deleted only after that.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REPLAY_ATTRIBUTE = "republishRequestedAt"  # platform_core.outbox.REPLAY_ATTRIBUTE
FAILURE_QUEUE = "OutboxFailureQueue"
EVENT_DLQ = "EventDeliveryDLQ"
MARGIN = dt.timedelta(minutes=1)
LOCAL_REGION = "us-east-1"  # devstack.template.REGION, for an endpoint file written before it named its region


@dataclass
class Target:
    """Clients and the physical ids of the stack's resources."""

    endpoint: str | None
    queues: dict[str, str]  # logical id -> queue URL
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    # Passed to every client: the local stack's region and moto's dummy credentials; nothing for a deployed
    # stack, whose region and credentials are the operator's (AWS_PROFILE, AWS_REGION, ...).
    client_options: dict[str, str] = field(default_factory=dict)
    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self.clients:
            import boto3

            self.clients[service] = boto3.client(  # type: ignore[call-overload]
                service, endpoint_url=self.endpoint, **self.client_options
            )
        return self.clients[service]

    @classmethod
    def local(cls, endpoint_file: Path) -> Target:
        if not endpoint_file.exists():
            raise SystemExit(f"no running local stack ({endpoint_file} not found): start it with `make run`")
        info = json.loads(endpoint_file.read_text())
        local_aws = {
            "region_name": info.get("region", LOCAL_REGION),
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",  # moto's: the local stack checks no signature
        }
        return cls(
            endpoint=info["aws_endpoint"],
            queues=dict(info["queues"]),
            tables=dict(info.get("tables", {})),
            client_options=local_aws,
        )

    @classmethod
    def stack(cls, name: str) -> Target:
        target = cls(endpoint=None, queues={})
        pages = target.client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=name)
        for page in pages:
            for res in page["StackResourceSummaries"]:
                if res["ResourceType"] == "AWS::SQS::Queue":
                    target.queues[res["LogicalResourceId"]] = res["PhysicalResourceId"]
                elif res["ResourceType"] == "AWS::DynamoDB::Table":
                    target.tables[res["LogicalResourceId"]] = res["PhysicalResourceId"]
        return target

    def table(self, logical_id: str) -> str:
        if logical_id not in self.tables:
            raise SystemExit(
                f"the stack has no table {logical_id} (a local stack started before `make reconcile` existed?)"
            )
        return self.tables[logical_id]


def _receive(sqs: Any, url: str) -> Iterator[dict[str, Any]]:
    """Every message currently in the queue, each received once (kept invisible while we work)."""
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=300, AttributeNames=["All"]
        ).get("Messages")
        if not batch:
            return
        yield from batch


def _parse_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _table_of_stream(stream_arn: str) -> str:
    # arn:aws:dynamodb:{region}:{account}:table/{name}/stream/{label}
    return stream_arn.split(":table/", 1)[1].split("/stream/", 1)[0]


def failed_batches(target: Target) -> tuple[dict[str, str], list[str]]:
    """{table name: earliest failed record's arrival (ISO)} and the receipt handles, from OutboxFailureQueue."""
    sqs = target.client("sqs")
    since: dict[str, str] = {}
    handles = []
    for message in _receive(sqs, target.queues[FAILURE_QUEUE]):
        handles.append(message["ReceiptHandle"])
        info = json.loads(message["Body"]).get("DDBStreamBatchInfo") or {}
        if not info.get("streamArn"):
            continue
        table = _table_of_stream(info["streamArn"])
        first = info.get("approximateArrivalOfFirstRecord") or json.loads(message["Body"]).get("timestamp")
        arrival = _iso(_parse_iso(first) - MARGIN) if first else "0000"
        since[table] = min(since.get(table, arrival), arrival)
    return since, handles


def republish(target: Target, table: str, since: str) -> int:
    """Set REPLAY_ATTRIBUTE on every item of `table` written since `since`; returns how many."""
    ddb = target.client("dynamodb")
    keys = [k["AttributeName"] for k in ddb.describe_table(TableName=table)["Table"]["KeySchema"]]
    now = _iso(dt.datetime.now(dt.UTC))
    count = 0
    pages = ddb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="updatedAt >= :since",
        ExpressionAttributeValues={":since": {"S": since}},
        ProjectionExpression=", ".join(f"#k{i}" for i in range(len(keys))),
        ExpressionAttributeNames={f"#k{i}": k for i, k in enumerate(keys)},
    )
    for page in pages:
        for item in page["Items"]:
            ddb.update_item(
                TableName=table,
                Key={k: item[k] for k in keys},
                UpdateExpression="SET #replay = :now",
                ConditionExpression="attribute_exists(#k0)",
                ExpressionAttributeNames={"#replay": REPLAY_ATTRIBUTE, "#k0": keys[0]},
                ExpressionAttributeValues={":now": {"S": now}},
            )
            count += 1
    return count


def replay(target: Target, since: str | None = None, tables: list[str] | None = None) -> dict[str, int]:
    """Republish the events of the failed batches (or of `tables` since `since`); {table: items touched}."""
    windows, handles = failed_batches(target) if since is None else ({}, [])
    if since is not None:
        windows = {table: since for table in tables or []}
    done = {table: republish(target, table, start) for table, start in windows.items()}
    sqs = target.client("sqs")
    for handle in handles:
        sqs.delete_message(QueueUrl=target.queues[FAILURE_QUEUE], ReceiptHandle=handle)
    return done


def _admits(filter_policy: str | None, event_type: str | None) -> bool:
    if not filter_policy:
        return True
    allowed = json.loads(filter_policy).get("type")
    return allowed is None or event_type in allowed


def redrive_events(target: Target) -> tuple[int, int]:
    """Move EventDeliveryDLQ's SNS envelopes to the inboxes they were meant for: (moved, left)."""
    sqs, sns = target.client("sqs"), target.client("sns")
    dlq_url = target.queues[EVENT_DLQ]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    routes: dict[str, list[tuple[str | None, str]]] = {}  # topic -> [(filter policy, queue url)]
    moved = 0
    kept: list[str] = []
    for message in _receive(sqs, dlq_url):
        envelope = json.loads(message["Body"])
        topic = envelope.get("TopicArn", "")
        event_type = ((envelope.get("MessageAttributes") or {}).get("type") or {}).get("Value")
        if topic not in routes:
            try:
                routes[topic] = _sqs_subscriptions(sqs, sns, topic, dlq_arn) if topic else []
            except sns.exceptions.NotFoundException:  # the topic is gone: nowhere to send it
                routes[topic] = []
        destinations = [url for policy, url in routes[topic] if _admits(policy, event_type)]
        if not destinations:
            kept.append(message["ReceiptHandle"])  # nobody to give it to: it stays for a person to look at
            continue
        for url in destinations:
            sqs.send_message(QueueUrl=url, MessageBody=message["Body"])
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
        moved += 1
    for handle in kept:  # visible again once the loop is done (not before: it would be received again)
        sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return moved, len(kept)


def _sqs_subscriptions(sqs: Any, sns: Any, topic: str, dlq_arn: str) -> list[tuple[str | None, str]]:
    found = []
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic):
        for sub in page["Subscriptions"]:
            if sub["Protocol"] != "sqs":
                continue
            attrs = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"]
            redrive = json.loads(attrs.get("RedrivePolicy") or "{}")
            if redrive.get("deadLetterTargetArn") != dlq_arn:
                continue
            name = sub["Endpoint"].rsplit(":", 1)[1]
            found.append((attrs.get("FilterPolicy"), sqs.get_queue_url(QueueName=name)["QueueUrl"]))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.ops", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", help="a deployed stack's name (default: the running local stack)")
    parser.add_argument("--endpoint-file", default=str(ROOT / ".devstack" / "endpoint.json"))
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("replay", help="republish the events of the publishers' failed batches")
    rep.add_argument("--since", help="ISO time: replay --table items written since then instead")
    rep.add_argument("--table", action="append", default=[], help="table name (with --since; repeatable)")
    sub.add_parser("redrive-events", help="move EventDeliveryDLQ's messages to their inboxes")
    rec = sub.add_parser(
        "reconcile", help="the card processor's ledger against the payments table; exit 1 on a mismatch"
    )
    rec.add_argument("--hours", type=float, default=24.0, help="the window: the last HOURS hours (default 24)")
    args = parser.parse_args(argv)
    target = Target.stack(args.stack) if args.stack else Target.local(Path(args.endpoint_file))
    if args.command == "reconcile":
        return _reconcile(target, args.hours)
    if args.command == "replay":
        if args.since and not args.table:
            parser.error("--since needs at least one --table")
        done = replay(target, args.since, args.table)
        for table, count in done.items():
            print(f"{table}: {count} items asked to republish their events")
        if not done:
            print(f"nothing to replay ({FAILURE_QUEUE} is empty)")
    else:
        moved, left = redrive_events(target)
        print(f"moved {moved} messages from {EVENT_DLQ} to their inboxes; {left} left (no matching subscription)")
    return 0


def _reconcile(target: Target, hours: float) -> int:
    from tools.reconcile import reconcile

    window, mismatches = reconcile(target, hours)
    for mismatch in mismatches:
        print(mismatch)
    print(f"{window.summary}, {len(mismatches)} mismatches (the last {hours:g} h)")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
