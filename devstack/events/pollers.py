"""Event source mappings: SQS queues and DynamoDB streams feeding their functions."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devstack.aws import make_client
from devstack.events.filters import admits
from devstack.lambdas.pool import InvokeResult
from devstack.template import REGION, FunctionModel, QueueModel, SqsEventSource, StreamEventSource, TableModel

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


def _to_json_safe(value: Any) -> Any:
    """boto3's low-level AttributeValues -> Lambda's JSON form (binary as base64)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {k: _to_json_safe(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_to_json_safe(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return value


def record_age(record: dict[str, Any], now: float) -> float:
    """Seconds since the stream record was written (ApproximateCreationDateTime), 0 when unknown."""
    created = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    if isinstance(created, dt.datetime):
        return now - created.timestamp()
    if isinstance(created, int | float):
        return now - float(created)
    return 0.0


def _iso(created: Any) -> str | None:
    if isinstance(created, dt.datetime):
        return created.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(created, int | float):
        return (
            dt.datetime.fromtimestamp(float(created), dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
    return None


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


def _stopped_after_error(poller: SqsPoller | StreamPoller, exc: Exception) -> bool:
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


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None
    pending: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    window: int = 0


class StreamPoller(threading.Thread):
    poll_interval = 0.01  # each stream hop of the event chain waits up to this long

    def __init__(self, fn: FunctionModel, source: StreamEventSource, table: TableModel, wiring: Wiring) -> None:
        super().__init__(daemon=True, name=f"stream-{table.logical_id}-{fn.logical_id}")
        self.fn, self.source, self.table = fn, source, table
        self.streams = make_client("dynamodbstreams", wiring.endpoint, internal=True)
        self.endpoint = wiring.endpoint
        self.invoke, self.record, self.stop = wiring.invoke, wiring.record, wiring.stop
        self.trigger = f"stream {table.logical_id}"
        self.shards: dict[str, _Shard] = {}
        self.closed_shards: set[str] = set()
        self.empty_passes = 0  # consecutive passes that found nothing to do (read by wait_idle)
        self.passes = 0
        self._last_describe = 0.0
        self.ready = threading.Event()

    def _discover(self) -> None:
        desc = self.streams.describe_stream(StreamArn=self.source.stream_arn)["StreamDescription"]
        for sh in desc.get("Shards", []):
            sid = sh["ShardId"]
            if sid in self.shards or sid in self.closed_shards:
                continue
            it_type = "TRIM_HORIZON" if self.source.starting_position == "TRIM_HORIZON" else "LATEST"
            if self._last_describe and it_type == "LATEST":
                it_type = "TRIM_HORIZON"  # a shard born while we run: read it from its start
            it = self.streams.get_shard_iterator(
                StreamArn=self.source.stream_arn, ShardId=sid, ShardIteratorType=it_type
            )["ShardIterator"]
            self.shards[sid] = _Shard(sid, it, window=self.source.batch_size)
        self._last_describe = time.monotonic()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                if not self.shards or time.monotonic() - self._last_describe > 1.0:
                    self._discover()
                self.ready.set()
                did_work = False
                for shard in list(self.shards.values()):
                    did_work |= self._poll_shard(shard)
            except Exception as exc:
                if _stopped_after_error(self, exc):
                    return
                continue
            self.passes += 1
            if did_work:
                self.empty_passes = 0
            else:
                self.empty_passes += 1
                self.stop.wait(self.poll_interval)

    def _poll_shard(self, shard: _Shard) -> bool:
        if not shard.pending and shard.iterator:
            resp = self.streams.get_records(ShardIterator=shard.iterator, Limit=1000)
            shard.iterator = resp.get("NextShardIterator")
            # FilterCriteria: records no pattern admits never reach the function (nor count as failed).
            shard.pending.extend(
                r for r in resp.get("Records") or [] if admits(self.source.filters, self._lambda_record(r))
            )
        if not shard.pending:
            if shard.iterator is None:
                self.closed_shards.add(shard.shard_id)
                del self.shards[shard.shard_id]
            return False
        self._process(shard)
        return True

    def _lambda_record(self, r: dict[str, Any]) -> dict[str, Any]:
        ddb = _to_json_safe(dict(r.get("dynamodb") or {}))
        return {
            "eventID": r.get("eventID", uuid.uuid4().hex),
            "eventName": r.get("eventName"),
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": REGION,
            "dynamodb": ddb,
            "eventSourceARN": self.source.stream_arn,
        }

    def _expire(self, shard: _Shard) -> None:
        """MaximumRecordAgeInSeconds: records older than that go to the on-failure destination unprocessed."""
        max_age = self.source.maximum_record_age
        if max_age < 0:
            return
        expired = 0
        while expired < len(shard.pending) and record_age(shard.pending[expired], time.time()) > max_age:
            expired += 1
        if expired:
            batch, shard.pending = shard.pending[:expired], shard.pending[expired:]
            shard.attempts = 0
            self._on_failure(shard, batch, None, "RecordAgeExceeded")

    def _process(self, shard: _Shard) -> None:
        self._expire(shard)
        if not shard.pending:
            return
        batch = shard.pending[: max(1, min(shard.window, self.source.batch_size))]
        records = [self._lambda_record(r) for r in batch]
        corr = ""
        for r in records:
            img = r["dynamodb"].get("NewImage") or {}
            c = (img.get("correlationId") or {}).get("S")
            if c:
                corr = str(c)
                break
        res = self.invoke(self.fn.logical_id, {"Records": records})
        done = 0
        if (
            res.ok
            and self.source.report_batch_item_failures
            and isinstance(res.result, dict)
            and res.result.get("batchItemFailures")
        ):
            seqs = [r["dynamodb"].get("SequenceNumber") for r in records]
            failed = [f.get("itemIdentifier") for f in res.result["batchItemFailures"] if isinstance(f, dict)]
            idx = [seqs.index(s) for s in failed if s in seqs]
            done = min(idx) if idx and len(idx) == len(failed) else 0
            outcome = f"{len(failed)} failed items (retry from #{done})"
            ok = False
        elif res.ok:
            done = len(batch)
            outcome = f"ok ({len(batch)} records)"
            ok = True
        else:
            outcome = f"error {res.error_message}"
            ok = False
        self.record(self.fn.logical_id, self.trigger, res.duration_ms, outcome, corr)
        shard.pending = shard.pending[done:]
        if ok:
            shard.attempts = 0
            shard.window = self.source.batch_size
            return
        shard.attempts += 1
        if self.source.bisect_on_error and len(batch) - done > 1 and done == 0:
            shard.window = max(1, len(batch) // 2)
        max_retry = self.source.maximum_retry_attempts
        if max_retry >= 0 and shard.attempts > max_retry:
            failed_batch = shard.pending[: len(batch) - done]
            shard.pending = shard.pending[len(failed_batch) :]
            shard.attempts = 0
            self._on_failure(shard, failed_batch, res, "RetryAttemptsExhausted")
            return
        backoff = min(2.0, 0.05 * (2 ** min(shard.attempts, 6)))
        self.stop.wait(backoff)

    def _on_failure(self, shard: _Shard, batch: list[dict[str, Any]], res: InvokeResult | None, condition: str) -> None:
        dest = self.source.on_failure_destination
        if condition == "RecordAgeExceeded":
            msg = f"dropped {len(batch)} records older than {self.source.maximum_record_age} s"
        else:
            msg = f"dropped {len(batch)} records after {self.source.maximum_retry_attempts} retries"
        if dest and batch:
            first, last = batch[0].get("dynamodb", {}), batch[-1].get("dynamodb", {})
            payload = {
                "requestContext": {
                    "requestId": res.request_id if res else str(uuid.uuid4()),
                    "functionArn": self.fn.arn,
                    "condition": condition,
                    "approximateInvokeCount": self.source.maximum_retry_attempts + 1 if res else 0,
                },
                "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                "version": "1.0",
                "timestamp": dt.datetime.now(dt.UTC).isoformat(),
                "DDBStreamBatchInfo": {
                    "shardId": shard.shard_id,
                    "startSequenceNumber": first.get("SequenceNumber"),
                    "endSequenceNumber": last.get("SequenceNumber"),
                    "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateCreationDateTime")),
                    "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime")),
                    "batchSize": len(batch),
                    "streamArn": self.source.stream_arn,
                },
            }
            try:
                if ":sqs:" in dest:
                    sqs = make_client("sqs", self.endpoint, internal=True)
                    url = sqs.get_queue_url(QueueName=dest.rsplit(":", 1)[1])["QueueUrl"]
                    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(payload, default=str))
                elif ":sns:" in dest:
                    make_client("sns", self.endpoint, internal=True).publish(
                        TopicArn=dest, Message=json.dumps(payload, default=str)
                    )
                msg += f", sent to {dest}"
            except Exception as exc:
                msg += f", OnFailure destination failed: {exc}"
        self.record(self.fn.logical_id, self.trigger, 0.0, msg, "")
