"""The transactional outbox: a table's stream, turned into events on the service's SNS topic.

Handlers write their table and return; this function publishes what changed. If SNS
fails, the record is reported as a batch item failure and the stream retries it, so
no event is lost and none is sent for a write that did not happen.
"""

import json
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from platform_core.clock import utc_now_iso
from platform_core.config import aws_client, require_env
from platform_core.events import EventBody
from platform_core.jsonutil import to_plain
from platform_core.observability import count, logger, metrics

# Setting this attribute on an item republishes the event of its current status (tools/ops.py replay).
REPLAY_ATTRIBUTE = "republishRequestedAt"

# (old image, new image) -> (event type, event data), or None when the change is not an event.
ChangeMapper = Callable[[dict[str, Any] | None, dict[str, Any] | None], EventBody | None]


def make_publisher(
    to_event: ChangeMapper, counted: Mapping[str, str] | None = None
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """``counted`` maps an event type to the metric counting it, once it is published: the mapping itself
    re-runs on every retry and bisection of the stream, so it must count nothing."""
    metric_of = dict(counted or {})
    topic_arn = require_env("EVENTS_TOPIC_ARN")
    source = require_env("EVENT_SOURCE")
    sns = aws_client("sns")
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

    def publish(record: DynamoDBRecord) -> None:
        change = record.dynamodb
        new = change.new_image if change and change.new_image else None
        old = change.old_image if change and change.old_image else None
        # A replay (tools/ops.py replay) sets REPLAY_ATTRIBUTE on the item: its current status is published again
        # as if the item had just reached it (consumers are idempotent, so a repeat is harmless).
        replay = replay_requested(old, new)
        event = to_event(None, new) if replay else to_event(old, new)
        if event is None:
            return
        event_type, data = event
        correlation_id = str((new or old or {}).get("correlationId", ""))
        logger.set_correlation_id(correlation_id)
        envelope = {
            # The stream record id: a retried record republishes the same event id.
            "id": record.event_id,
            "type": event_type,
            "source": source,
            "time": utc_now_iso(),
            "correlationId": correlation_id,
            "data": to_plain(data),
        }
        sns.publish(
            TopicArn=topic_arn,
            Message=json.dumps(envelope, separators=(",", ":")),
            MessageAttributes={"type": {"DataType": "String", "StringValue": event_type}},
        )
        logger.info("event published", extra={"event_type": event_type, "event_id": record.event_id})
        if event_type in metric_of and not replay:  # a replay republishes what was counted already
            count(metric_of[event_type])

    @metrics.log_metrics
    @logger.inject_lambda_context(log_event=False)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return dict(process_partial_response(event=event, record_handler=publish, processor=processor, context=context))

    return handler


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
