"""Event source mappings: SQS queues and DynamoDB streams feeding their functions."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from devstack.aws import make_client
from devstack.lambdas.pool import InvokeResult
from devstack.template import REGION, FunctionModel, QueueModel, SqsEventSource

Invoke = Callable[[str, Any], InvokeResult]
Record = Callable[[str, str, float, str, str], None]


@dataclass(frozen=True)
class Wiring:
    """What every poller of a stack is plugged into: the AWS endpoint it reads, how it invokes a function,
    where it records an invocation, and the stack's stop signal."""

    endpoint: str
    invoke: Invoke
    record: Record
    stop: threading.Event


def _correlation_from_body(body: str) -> str:
    try:
        doc = json.loads(body)
        if isinstance(doc, dict) and doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):
            doc = json.loads(doc["Message"])
        if isinstance(doc, dict):
            return str(doc.get("correlationId") or "")
    except (ValueError, TypeError):
        pass
    return ""


def _sqs_record(m: dict[str, Any], queue: QueueModel) -> dict[str, Any]:
    attrs = m.get("Attributes", {})
    mattrs = {}
    for name, a in (m.get("MessageAttributes") or {}).items():
        mattrs[name] = {
            "stringValue": a.get("StringValue"),
            "binaryValue": base64.b64encode(a["BinaryValue"]).decode() if a.get("BinaryValue") else None,
            "stringListValues": a.get("StringListValues", []),
            "binaryListValues": [base64.b64encode(b).decode() for b in a.get("BinaryListValues", [])],
            "dataType": a.get("DataType", "String"),
        }
        mattrs[name] = {k: v for k, v in mattrs[name].items() if v is not None}
    return {
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m.get("Body", ""),
        "attributes": {
            "ApproximateReceiveCount": attrs.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attrs.get("SentTimestamp", str(int(time.time() * 1000))),
            "SenderId": attrs.get("SenderId", "AIDAIENQZJOLO23YVJ4VO"),
            "ApproximateFirstReceiveTimestamp": attrs.get(
                "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
            ),
            **{k: v for k, v in attrs.items() if k in ("MessageGroupId", "MessageDeduplicationId", "SequenceNumber")},
        },
        "messageAttributes": mattrs,
        "md5OfBody": m.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue.arn,
        "awsRegion": REGION,
    }


def _failed_ids(result: Any, all_ids: list[str]) -> list[str] | None:
    """IDs reported in batchItemFailures; None means the whole batch failed (malformed response)."""
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return []
    items = result["batchItemFailures"]
    if not isinstance(items, list):
        return None
    out = []
    for item in items:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in all_ids:
            return None
        out.append(str(ident))
    return out


class Poller(Protocol):
    fn: FunctionModel
    trigger: str
    record: Record
    stop: threading.Event


def _stopped_after_error(poller: Poller, exc: Exception) -> bool:
    """Log a poller's failed AWS call and back off; True when the stack is stopping anyway."""
    if poller.stop.is_set():
        return True
    poller.record(poller.fn.logical_id, poller.trigger, 0.0, f"poller error: {exc}", "")
    poller.stop.wait(0.5)
    return poller.stop.is_set()


class SqsPoller(threading.Thread):
    def __init__(self, fn: FunctionModel, source: SqsEventSource, queue: QueueModel, wiring: Wiring) -> None:
        super().__init__(daemon=True, name=f"sqs-{queue.logical_id}-{fn.logical_id}")
        self.fn, self.source, self.queue = fn, source, queue
        self.client = make_client("sqs", wiring.endpoint, internal=True)
        self.invoke, self.record, self.stop = wiring.invoke, wiring.record, wiring.stop
        self.trigger = f"sqs {queue.logical_id}"

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                resp = self.client.receive_message(
                    QueueUrl=self.queue.url,
                    MaxNumberOfMessages=max(1, min(10, self.source.batch_size)),
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except Exception as exc:
                if _stopped_after_error(self, exc):
                    return
                continue
            msgs = resp.get("Messages") or []
            if msgs:
                self.process(msgs)

    def process(self, msgs: list[dict[str, Any]]) -> None:
        records = [_sqs_record(m, self.queue) for m in msgs]
        ids = [r["messageId"] for r in records]
        corr = next((c for c in (_correlation_from_body(r["body"]) for r in records) if c), "")
        res = self.invoke(self.fn.logical_id, {"Records": records})
        to_delete: list[dict[str, Any]]
        if not res.ok:
            outcome = f"error {res.error_message} ({len(records)} records back to the queue)"
            to_delete = []
        elif self.source.report_batch_item_failures:
            failed = _failed_ids(res.result, ids)
            if failed is None:
                outcome = f"invalid batchItemFailures: all {len(records)} records back to the queue"
                to_delete = []
            else:
                to_delete = [r for r in records if r["messageId"] not in failed]
                outcome = f"{len(failed)} failed items" if failed else f"ok ({len(records)} records)"
        else:
            to_delete = records
            outcome = f"ok ({len(records)} records)"
        if to_delete:
            with contextlib.suppress(Exception):
                self.client.delete_message_batch(
                    QueueUrl=self.queue.url,
                    Entries=[{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(to_delete)],
                )
        self.record(self.fn.logical_id, self.trigger, res.duration_ms, outcome, corr)
