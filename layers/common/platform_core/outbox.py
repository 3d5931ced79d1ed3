"""The transactional outbox: a table's stream, turned into events on the service's SNS topic.

Handlers write their table and return; this function publishes what changed. If SNS
fails, the record is reported as a batch item failure and the stream retries it, so
no event is lost and none is sent for a write that did not happen.

Events leave in SNS ``PublishBatch`` calls of at most 10 entries, in stream order. The topics are standard
(not FIFO): SNS keeps no order, so consumers never rely on it; the publisher still never lets an event
overtake an earlier one of the same item that did not go out: two events of one item never share a call,
and at the first record that fails (its entry refused, the call failing, or its mapping raising) the
publisher stops. That record and every later one are reported as batch item failures; the stream
retries from the first, so a later entry of the same call that SNS took is sent again (the same event
id: consumers are idempotent).
"""

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from platform_core.clock import utc_now_iso
from platform_core.config import aws_client, require_env
from platform_core.events import EventBody
from platform_core.jsonutil import to_plain
from platform_core.observability import count, logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_sns.type_defs import PublishBatchRequestEntryTypeDef

# Setting this attribute on an item republishes the event of its current status (tools/ops.py replay).
REPLAY_ATTRIBUTE = "republishRequestedAt"
# SNS PublishBatch: at most 10 entries and 256 KiB of messages (with their attributes) per call.
MAX_ENTRIES_PER_CALL = 10
MAX_BYTES_PER_CALL = 262_144

# (old image, new image) -> (event type, event data), or None when the change is not an event.
ChangeMapper = Callable[[dict[str, Any] | None, dict[str, Any] | None], EventBody | None]


class NotPublishedError(RuntimeError):
    """The record's event did not go out (SNS refused it, or an earlier record of the batch failed)."""


@dataclass(frozen=True)
class Outgoing:
    """One record's event, ready for a PublishBatch entry."""

    sequence_number: str
    item_key: str
    event_type: str
    event_id: str
    correlation_id: str
    message: str
    replay: bool

    def size(self) -> int:
        return len(self.message.encode()) + len("type") + len(self.event_type.encode()) + len("String")


@dataclass
class Outcome:
    """What happened to a batch: the records whose events went out, and why the rest did not."""

    published: dict[str, Outgoing] = field(default_factory=dict)
    failures: dict[str, Exception] = field(default_factory=dict)
    stopped: Exception | None = None


def entries_per_call() -> int:
    """``OUTBOX_MAX_ENTRIES_PER_CALL`` (1..10; absent: 10). ``make bench`` sets 1 to measure one event per call."""
    value = int(os.environ.get("OUTBOX_MAX_ENTRIES_PER_CALL") or MAX_ENTRIES_PER_CALL)
    if not 1 <= value <= MAX_ENTRIES_PER_CALL:
        raise ValueError(f"OUTBOX_MAX_ENTRIES_PER_CALL must be 1..{MAX_ENTRIES_PER_CALL}, not {value}")
    return value


class StreamPublisher:
    """Publishes a batch of stream records' events on the topic (PublishBatch), deciding each record's outcome."""

    def __init__(self, to_event: ChangeMapper, sns: Any, topic_arn: str, source: str, limit: int) -> None:
        self.to_event, self.sns, self.topic_arn, self.source, self.limit = to_event, sns, topic_arn, source, limit

    def outgoing(self, record: DynamoDBRecord) -> Outgoing | None:
        change = record.dynamodb
        new = change.new_image if change and change.new_image else None
        old = change.old_image if change and change.old_image else None
        # A replay (tools/ops.py replay) sets REPLAY_ATTRIBUTE on the item: its current status is published again
        # as if the item had just reached it (consumers are idempotent, so a repeat is harmless).
        replay = replay_requested(old, new)
        event = self.to_event(None, new) if replay else self.to_event(old, new)
        if event is None:
            return None
        event_type, data = event
        correlation_id = str((new or old or {}).get("correlationId", ""))
        envelope = {
            # The stream record id: a retried record republishes the same event id.
            "id": record.event_id,
            "type": event_type,
            "source": self.source,
            "time": utc_now_iso(),
            "correlationId": correlation_id,
            "data": to_plain(data),
        }
        return Outgoing(
            sequence_number=sequence_number_of(record),
            item_key=json.dumps(change.keys if change else {}, sort_keys=True, default=str),
            event_type=event_type,
            event_id=str(record.event_id),
            correlation_id=correlation_id,
            message=json.dumps(envelope, separators=(",", ":")),
            replay=replay,
        )

    def publish_all(self, records: list[DynamoDBRecord]) -> Outcome:
        """Every record's event, in stream order, in as few calls as allowed; stops at the first failure."""
        outcome = Outcome()
        chunk: list[Outgoing] = []
        for index, record in enumerate(records):
            try:
                item = self.outgoing(record)
            except Exception as exc:  # a record its mapping cannot read: it fails, and stops the batch there
                if chunk and not self.send(chunk, outcome):
                    return fail_rest(records, index, outcome)
                outcome.stopped = outcome.failures[sequence_number_of(record)] = exc
                return fail_rest(records, index + 1, outcome)
            if item is None:
                continue
            if chunk and not fits(chunk, item, self.limit):
                if not self.send(chunk, outcome):
                    return fail_rest(records, index, outcome)
                chunk = []
            chunk.append(item)
        if chunk and not self.send(chunk, outcome):
            return fail_rest(records, len(records), outcome)
        return outcome

    def send(self, chunk: list[Outgoing], outcome: Outcome) -> bool:
        """One PublishBatch call; False (and ``outcome.stopped``) at the first entry that did not go out."""
        entries: list[PublishBatchRequestEntryTypeDef] = [
            {
                "Id": str(i),
                "Message": o.message,
                "MessageAttributes": {"type": {"DataType": "String", "StringValue": o.event_type}},
            }
            for i, o in enumerate(chunk)
        ]
        try:
            answer = self.sns.publish_batch(TopicArn=self.topic_arn, PublishBatchRequestEntries=entries)
        except Exception as exc:  # SNS down, throttled, KMS refusing: nothing of this call is known to be out
            failed_at, outcome.stopped = 0, exc
        else:
            refused = {int(f["Id"]): f for f in answer.get("Failed", [])}
            failed_at = min(refused, default=len(chunk))
            if refused:
                first = refused[failed_at]
                reason = f"SNS refused the entry: {first.get('Code')} {first.get('Message', '')}".strip()
                outcome.stopped = NotPublishedError(reason)
        for o in chunk[:failed_at]:
            outcome.published[o.sequence_number] = o
        if outcome.stopped is None:
            return True
        logger.warning(
            "event not published: the stream retries from this record",
            extra={"event_id": chunk[failed_at].event_id, "reason": str(outcome.stopped)},
        )
        for o in chunk[failed_at:]:
            outcome.failures[o.sequence_number] = outcome.stopped
        return False


def make_publisher(
    to_event: ChangeMapper, counted: Mapping[str, str] | None = None
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """``counted`` maps an event type to the metric counting it, once it is published: the mapping itself
    re-runs on every retry and bisection of the stream, so it must count nothing."""
    metric_of = dict(counted or {})
    publisher = StreamPublisher(
        to_event, aws_client("sns"), require_env("EVENTS_TOPIC_ARN"), require_env("EVENT_SOURCE"), entries_per_call()
    )
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

    def reporter(outcome: Outcome) -> Callable[[DynamoDBRecord], None]:
        """Powertools' record handler: each record's outcome, decided by publish_all, reported to the stream
        record by record (ReportBatchItemFailures; all failed: an error, and the stream bisects the batch)."""

        def report(record: DynamoDBRecord) -> None:
            sequence_number = sequence_number_of(record)
            failure = outcome.failures.get(sequence_number)
            if failure is not None:
                raise failure
            published = outcome.published.get(sequence_number)
            if published is None:
                return  # not an event
            logger.set_correlation_id(published.correlation_id)
            logger.info("event published", extra={"event_type": published.event_type, "event_id": published.event_id})
            if published.event_type in metric_of and not published.replay:  # a replay republishes what was counted
                count(metric_of[published.event_type])

        return report

    @metrics.log_metrics
    @logger.inject_lambda_context(log_event=False)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        outcome = publisher.publish_all([DynamoDBRecord(r) for r in event.get("Records") or []])
        response = process_partial_response(
            event=event, record_handler=reporter(outcome), processor=processor, context=context
        )
        return dict(response)

    return handler


def fits(chunk: list[Outgoing], item: Outgoing, limit: int) -> bool:
    """Whether ``item`` may join ``chunk`` in one call: room left, and no event of the same item in it
    (the second waits until SNS has taken the first)."""
    if len(chunk) >= limit or any(o.item_key == item.item_key for o in chunk):
        return False
    return sum(o.size() for o in chunk) + item.size() <= MAX_BYTES_PER_CALL


def sequence_number_of(record: DynamoDBRecord) -> str:
    """The record's identity in a partial batch response (Powertools reports failures by it)."""
    return str(record.dynamodb.sequence_number if record.dynamodb else "")


def fail_rest(records: list[DynamoDBRecord], start: int, outcome: Outcome) -> Outcome:
    """Every record from ``start`` on is held back: published after the failed one, it could overtake it."""
    held_back = NotPublishedError("held back: an earlier record of the batch was not published")
    for record in records[start:]:
        outcome.failures.setdefault(sequence_number_of(record), held_back)
    return outcome


def status_change(old: dict[str, Any] | None, new: dict[str, Any] | None) -> str | None:
    """The status the item moved to, or None when the status did not change."""
    if new is None:
        return None
    before = old.get("status") if old else None
    after = new.get("status")
    return str(after) if after != before else None


def replay_requested(old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    """True when this change only asks for the item's event to be published again."""
    if new is None or REPLAY_ATTRIBUTE not in new:
        return False
    return (old or {}).get(REPLAY_ATTRIBUTE) != new[REPLAY_ATTRIBUTE]
