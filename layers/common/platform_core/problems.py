"""RFC 9457 problem details for every error the API answers."""

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel

PROBLEM_JSON = "application/problem+json"

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    404: "Not Found",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


# The answer to a request that is safe to send again shortly (the same Idempotency-Key, if it had one).
RETRY_AFTER_SECONDS = 1
UNAVAILABLE = "The service is unavailable; retry shortly."
BUSY = "The service is busy; retry shortly."


def retry_after() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_SECONDS)}


class ProblemError(Exception):
    """Raised by handlers and services; rendered as problem+json by the resolver."""

    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


class RetryLaterError(ProblemError):
    """503 with Retry-After: nothing was decided, the same request may be sent again shortly."""

    def __init__(self, detail: str = UNAVAILABLE) -> None:
        super().__init__(503, detail, headers=retry_after())


def problem_body(status: int, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }


def problem_response(status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> Response[str]:
    return Response(
        status_code=status,
        content_type=PROBLEM_JSON,
        body=json.dumps(problem_body(status, detail, **extra), separators=(",", ":")),
        headers=headers or {},
    )


class Problem(BaseModel):
    """RFC 9457 problem details, as documented in the OpenAPI document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None


def problem_doc(status: int, description: str) -> dict[int, Any]:
    """An OpenAPI `responses` entry for a problem+json answer."""
    return {status: {"description": description, "content": {PROBLEM_JSON: {"model": Problem}}}}
