"""A DynamoDB write that is applied and whose answer never arrives: the request reaches moto, moto applies it,
and the client sees a read timeout instead of the answer (botocore then retries it, as it would on AWS)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ReadTimeoutError


def writes_to(status: str) -> Callable[[dict[str, Any]], bool]:
    """An UpdateItem moving an item to `status` (platform_core.dynamo.Table.transition's `:to`)."""
    return lambda body: body.get("ExpressionAttributeValues", {}).get(":to", {}).get("S") == status


class LoseAnswers:
    """The next `times` UpdateItem calls of `client` that `matching` picks go through, and time out unanswered."""

    def __init__(self, client: Any, matching: Callable[[dict[str, Any]], bool], times: int = 1) -> None:
        self.client = client
        self.matching = matching
        self.remaining = times
        self.lost = 0
        client.meta.events.register("before-send.dynamodb.UpdateItem", self._send)

    def _send(self, request: Any, **_: Any) -> Any:
        if self.remaining <= 0 or not self.matching(json.loads(request.body or b"{}")):
            return None  # botocore sends it as usual
        self.remaining -= 1
        self.client._endpoint.http_session.send(request)  # applied by moto; its answer is dropped
        self.lost += 1
        raise ReadTimeoutError(endpoint_url=request.url)
