"""SQS consumers of SNS events, with partial batch failures.

A message whose handler raises is reported in batchItemFailures: SQS redelivers it and,
after the queue's maxReceiveCount, moves it to the DLQ, without holding back the rest of
the batch. Handlers are idempotent because every write they make is conditional.
Each event is validated against its type's model (platform_core.events) before its handler sees it.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import TypeAdapter

from platform_core.config import require_env
from platform_core.events import event_type_of
from platform_core.observability import count, logger, metrics

E = TypeVar("E")


@dataclass(frozen=True)
class Route(Generic[E]):
    """An event model (platform_core.events) and the handler that receives events of its type."""

    model: type[E]
    handle: Callable[[E], None]


class BatchWork(Protocol):
    """Work the routes defer to the end of a batch (one delivery execution for the batch's orders, say)."""

    def begin(self, message_id: str) -> None:
        """The message whose handling follows: what it defers is its own."""
        ...

    def flush(self) -> set[str]:
        """Do the deferred work; the ids of the messages whose part of it failed (they are retried)."""
        ...


class MalformedEventError(ValueError):
    """The message is not an event envelope; like an event its model refuses, it fails (and reaches the DLQ)."""


def parse_sqs_body(body: str) -> dict[str, Any]:
    """An SQS body is an SNS notification whose Message is the envelope (or the envelope itself
    when the subscription uses raw delivery). Numbers are read as Decimal: a bill stays exact."""
    outer = json.loads(body, parse_float=Decimal)
    if isinstance(outer, dict) and outer.get("Type") == "Notification" and "Message" in outer:
        outer = json.loads(outer["Message"], parse_float=Decimal)
    if not isinstance(outer, dict) or not isinstance(outer.get("type"), str):
        raise MalformedEventError("the message is not an event envelope (a JSON object with a string type)")
    return outer


def make_inbox(*routes: Route[Any], batch: BatchWork | None = None) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The SQS handler that validates each event against its type's model and hands it to its route;
    ``batch``'s deferred work is done once the batch's messages are handled."""
    processor = BatchProcessor(event_type=EventType.SQS)
    validators = {event_type_of(route.model): (TypeAdapter(route.model), route.handle) for route in routes}
    # The queue's maxReceiveCount (template: InboxMaxReceiveCount): a message failing on its last
    # receive goes to the DLQ next, which is worth a metric and an error line.
    max_receive_count = int(require_env("INBOX_MAX_RECEIVE_COUNT"))

    def last_delivery(record: SQSRecord, log: Callable[..., None] = logger.exception) -> None:
        if int(record.attributes.approximate_receive_count or 0) >= max_receive_count:
            count("InboxMessagesDeadLettered")
            log("message failed its last delivery: it goes to the DLQ", extra={"message_id": record.message_id})

    def consume(record: SQSRecord) -> None:
        if batch is not None:
            batch.begin(record.message_id)
        try:
            handle(record)
        except Exception:
            last_delivery(record)
            raise

    def handle(record: SQSRecord) -> None:
        message = parse_sqs_body(record.body)
        event_type = message["type"]
        correlation_id = message.get("correlationId")
        logger.set_correlation_id(correlation_id if isinstance(correlation_id, str) else None)
        route = validators.get(event_type)
        if route is None:
            # The subscription's filter policy should make this impossible; don't poison the queue.
            logger.warning("ignored event of unexpected type", extra={"event_type": event_type})
            return
        validator, route_handler = route
        # An event its model refuses raises ValidationError: the record fails like any other (retries, then DLQ).
        event = validator.validate_python(message)
        logger.info("event received", extra={"event_type": event_type, "event_id": event["id"]})
        route_handler(event)

    @metrics.log_metrics
    @logger.inject_lambda_context(log_event=False)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            response = dict(
                process_partial_response(event=event, record_handler=consume, processor=processor, context=context)
            )
        finally:
            not_done = batch.flush() if batch is not None else set()
        if not not_done:
            return response
        # Handled, but their deferred work failed: reported like a failed message, retried by SQS.
        failures: list[dict[str, str]] = list(response["batchItemFailures"])  # type: ignore[call-overload]
        reported = {f["itemIdentifier"] for f in failures}
        for record in (SQSRecord(r) for r in event["Records"]):
            if record.message_id in not_done and record.message_id not in reported:
                last_delivery(record, logger.error)
                failures.append({"itemIdentifier": record.message_id})
        return {**response, "batchItemFailures": failures}

    return handler
