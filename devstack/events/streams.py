"""DynamoDB stream event source mappings: each shard's records, in order, to the function.

``ParallelizationFactor`` N: a shard's records are dealt to N lanes by partition key, and the lanes'
batches run at once, as Lambda runs up to N batches of one shard at a time while keeping each partition
key's records in order. A lane whose batch reports failures retries from its first failed record
(ReportBatchItemFailures); the other lanes go on.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from devstack.aws import make_client
from devstack.events.filters import admits
from devstack.events.pollers import Wiring, _stopped_after_error
from devstack.lambdas.pool import InvokeResult
from devstack.template import REGION, FunctionModel, StreamEventSource, TableModel


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


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None
    pending: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    window: int = 0
    # ParallelizationFactor > 1: the shard's lanes (each a _Shard without iterator), one batch each at a time.
    lanes: list[_Shard] = field(default_factory=list)


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
        hash_keys = [k["AttributeName"] for k in table.key_schema if k.get("KeyType") == "HASH"]
        self.partition_key = hash_keys[0] if hash_keys else ""
        self.lanes_pool = (
            ThreadPoolExecutor(source.parallelization_factor, thread_name_prefix=f"{self.name}-lane")
            if source.parallelization_factor > 1
            else None
        )

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
            shard = _Shard(sid, it, window=self.source.batch_size)
            if self.source.parallelization_factor > 1:
                shard.lanes = [
                    _Shard(sid, None, window=self.source.batch_size) for _ in range(self.source.parallelization_factor)
                ]
            self.shards[sid] = shard
        self._last_describe = time.monotonic()

    def run(self) -> None:
        try:
            self._run()
        finally:
            if self.lanes_pool is not None:
                self.lanes_pool.shutdown(wait=False)

    def _run(self) -> None:
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
        lanes = shard.lanes or [shard]
        if shard.iterator and not all(lane.pending for lane in lanes):
            resp = self.streams.get_records(ShardIterator=shard.iterator, Limit=1000)
            shard.iterator = resp.get("NextShardIterator")
            # FilterCriteria: records no pattern admits never reach the function (nor count as failed).
            for r in resp.get("Records") or []:
                if admits(self.source.filters, self._lambda_record(r)):
                    self._lane_of(lanes, r).pending.append(r)
        busy = [lane for lane in lanes if lane.pending]
        if not busy:
            if shard.iterator is None:
                self.closed_shards.add(shard.shard_id)
                del self.shards[shard.shard_id]
            return False
        if len(busy) == 1 or self.lanes_pool is None:
            self._process(busy[0])
        else:
            list(self.lanes_pool.map(self._process, busy))  # a lane that fails retries alone; the others go on
        return True

    def _lane_of(self, lanes: list[_Shard], r: dict[str, Any]) -> _Shard:
        """The lane of a record's partition key: one key's records stay in one lane, in stream order."""
        if len(lanes) == 1:
            return lanes[0]
        key = ((r.get("dynamodb") or {}).get("Keys") or {}).get(self.partition_key)
        return lanes[zlib.crc32(json.dumps(key, sort_keys=True, default=str).encode()) % len(lanes)]

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
