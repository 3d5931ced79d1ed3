"""SQS consumers of SNS events, with partial batch failures.

A message whose handler raises is reported in batchItemFailures: SQS redelivers it and,
after the queue's maxReceiveCount, moves it to the DLQ, without holding back the rest of
the batch. Handlers are idempotent because every write they make is conditional.
"""

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from platform_core.events import Envelope, parse_sqs_body
from platform_core.observability import logger, metrics

EventHandler = Callable[[Envelope], None]


def make_inbox(routes: Mapping[str, EventHandler]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    processor = BatchProcessor(event_type=EventType.SQS)

    def consume(record: SQSRecord) -> None:
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
