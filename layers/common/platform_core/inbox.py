"""SQS consumers of SNS events, with partial batch failures.

A message whose handler raises is reported in batchItemFailures: SQS redelivers it and,
after the queue's maxReceiveCount, moves it to the DLQ, without holding back the rest of
the batch. Handlers are idempotent because every write they make is conditional.
"""

import json
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ConfigDict, Field

from platform_core.config import require_env
from platform_core.observability import count, logger, metrics


class Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1)
    type: str = Field(min_length=1)
    source: str = Field(min_length=1)
    time: str
    correlationId: str = ""  # noqa: N815 - the contract's field name
    data: dict[str, Any]


def parse_sqs_body(body: str) -> Envelope:
    """An SQS body is an SNS notification whose Message is the envelope (or the envelope itself
    when the subscription uses raw delivery)."""
    outer = json.loads(body)
    if isinstance(outer, dict) and outer.get("Type") == "Notification" and "Message" in outer:
        outer = json.loads(outer["Message"])
    return Envelope.model_validate(outer)


EventHandler = Callable[[Envelope], None]


def make_inbox(routes: Mapping[str, EventHandler]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    processor = BatchProcessor(event_type=EventType.SQS)
    # The queue's maxReceiveCount (template: InboxMaxReceiveCount): a message failing on its last
    # receive goes to the DLQ next, which is worth a metric and an error line.
    max_receive_count = int(require_env("INBOX_MAX_RECEIVE_COUNT"))

    def consume(record: SQSRecord) -> None:
        try:
            handle(record)
        except Exception:
            if int(record.attributes.approximate_receive_count or 0) >= max_receive_count:
                count("InboxMessagesDeadLettered")
                logger.exception(
                    "message failed its last delivery: it goes to the DLQ", extra={"message_id": record.message_id}
                )
            raise

    def handle(record: SQSRecord) -> None:
        envelope = parse_sqs_body(record.body)
        logger.set_correlation_id(envelope.correlationId)
        route = routes.get(envelope.type)
        if route is None:
            # The subscription's filter policy should make this impossible; don't poison the queue.
            logger.warning("ignored event of unexpected type", extra={"event_type": envelope.type})
            return
        logger.info("event received", extra={"event_type": envelope.type, "event_id": envelope.id})
        route(envelope)

    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return dict(process_partial_response(event=event, record_handler=consume, processor=processor, context=context))

    return handler
