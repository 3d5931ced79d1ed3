"""Idempotency-Key support for POST routes, on Powertools' idempotency utility.

The key is built explicitly from (route, user, header) so that a request without the
header is never idempotent by accident, and the body is the payload that must match:
the same key with another body is a 409. The parts are joined as a JSON array, never with a
separator a user id or a header may itself contain.
"""

import functools
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from platform_core.config import aws_client, require_env
from platform_core.dynamo import deserialize, serialize
from platform_core.jsonutil import to_plain
from platform_core.observability import logger

KEY_LIFETIME_SECONDS = 24 * 60 * 60

Outcome = tuple[int, dict[str, Any], dict[str, str]]


class KeyReusedError(Exception):
    """The Idempotency-Key was sent before with another request body."""


class KeyInProgressError(Exception):
    """The first request with this Idempotency-Key has not finished yet."""


class StoreUnavailableError(Exception):
    """The idempotency table failed (after the SDK's retries): the same key is safe to send again."""


@dataclass(frozen=True)
class KeyedRequest:
    """A request sent with an Idempotency-Key: the route it is for (`scope`), its user, the key, and the
    payload a repeat must match to be answered from the first one."""

    scope: tuple[str, ...]
    user_id: str
    key: str
    payload: Any


@functools.cache
def _replayer() -> tuple[Callable[..., dict[str, Any]], Any]:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    persistence = DynamoDBPersistenceLayer(
        table_name=require_env("IDEMPOTENCY_TABLE_NAME"), boto3_client=aws_client("dynamodb")
    )
    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="payload",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=KEY_LIFETIME_SECONDS,
    )

    @idempotent_function(data_keyword_argument="request", persistence_store=persistence, config=config)
    def replay(request: dict[str, Any], operation: Callable[[], Outcome]) -> dict[str, Any]:
        status, body, headers = operation()
        return {"status": status, "body": to_plain(body), "headers": headers}

    return replay, config


def record_key(scope: tuple[str, ...], user_id: str, key: str) -> str:
    """One string per (route scope, user, header), unambiguous whatever characters the parts hold."""
    return json.dumps([*scope, user_id, key], ensure_ascii=True, separators=(",", ":"))


def run_once(request: KeyedRequest | None, operation: Callable[[], Outcome], lambda_context: Any) -> Outcome:
    """Run `operation`, or replay its stored outcome when this user sent this key before (None: the request
    has no Idempotency-Key, so it just runs)."""
    if request is None:
        return operation()
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        BaseError,
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    replay, config = _replayer()
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)
    try:
        stored = replay(
            request={
                "key": record_key(request.scope, request.user_id, request.key),
                "payload": to_plain(request.payload),
            },
            operation=operation,
        )
    except IdempotencyValidationError as exc:
        raise KeyReusedError from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise KeyInProgressError from exc
    except BaseError as exc:
        # The store failed or answered inconsistently (IdempotencyPersistenceLayerError,
        # IdempotencyInconsistentStateError, ...): nothing is decided, the same key is safe to send again.
        logger.warning(
            "idempotency store failed", extra={"error": type(exc).__name__, "cause": str(exc.__cause__ or exc)}
        )
        raise StoreUnavailableError from exc
    return int(stored["status"]), dict(stored["body"]), dict(stored.get("headers") or {})


@functools.cache
def _reservations() -> tuple[Any, str]:
    return aws_client("dynamodb"), require_env("IDEMPOTENCY_TABLE_NAME")


def reserve(request: KeyedRequest, values: dict[str, str], clock: Callable[[], float] = time.time) -> dict[str, str]:
    """The values the first request with this key reserved within the key's lifetime (these, if it is the
    first). A reservation past its ``expiration`` is taken afresh, as Powertools treats its own expired
    record, whether or not DynamoDB's TTL has deleted it yet (it deletes within days, not on time).

    Powertools replays a finished request, but an attempt that dies after its effect and before its
    record says so (a killed worker, a failing store) leaves the record open; once that expires, the
    client's retry runs the operation again. An operation that draws its identity (an order id) from
    here makes the same effect again, which a conditional write then finds already done.
    """
    client, table = _reservations()
    digest = hashlib.sha256(
        record_key(("reservation", *request.scope), request.user_id, request.key).encode()
    ).hexdigest()
    body = hashlib.sha256(json.dumps(to_plain(request.payload), sort_keys=True, default=str).encode()).hexdigest()
    now = int(clock())
    item = {
        "id": f"reservation#{digest}",
        "expiration": now + KEY_LIFETIME_SECONDS,
        "payloadHash": body,
        **values,
    }
    try:
        client.put_item(
            TableName=table,
            Item=serialize(item),
            # Expired as Powertools counts it (its put's condition is the same "expiry < now").
            ConditionExpression="attribute_not_exists(id) OR #expiration < :now",
            ExpressionAttributeNames={"#expiration": "expiration"},
            ExpressionAttributeValues=serialize({":now": now}),
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except client.exceptions.ConditionalCheckFailedException as exc:
        old = deserialize(getattr(exc, "response", {}).get("Item") or {})
        if old.get("payloadHash") != body:
            raise KeyReusedError from exc
        return {name: str(old[name]) for name in values}
    return values
