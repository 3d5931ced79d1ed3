"""The REST resolver every API function uses: validation, problem responses, correlation ids, caller id."""

import binascii
import json
import math
import re
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Header
from botocore.exceptions import BotoCoreError, ClientError

from platform_core.config import is_transient
from platform_core.dynamo import InvalidPageTokenError, error_code
from platform_core.idempotency import KeyInProgressError, KeyReusedError, StoreUnavailableError
from platform_core.jsonutil import to_plain
from platform_core.problems import BUSY, UNAVAILABLE, ProblemError, retry_after
from platform_core.problems import problem_response as problem_answer

CORRELATION_HEADER = "X-Correlation-Id"
_CORRELATION_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
# Where a request's parameters live: an invalid one is 400 (an invalid body is 422).
PARAMETER_PLACES = ("query", "path", "header")


def _dumps(value: Any) -> str:
    return json.dumps(to_plain(value), separators=(",", ":"), default=str)


# A name worth echoing: an identifier, short, with few digits. Anything else a client sent as a key (a card
# number, markup, a line of text) is not repeated back: errors never contain a card number.
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_MAX_DIGITS_IN_A_NAME = 4
UNKNOWN_FIELD = "an unknown field"


def _echoable(part: object) -> bool:
    if isinstance(part, int):  # a list index
        return True
    name = str(part)
    return bool(_FIELD_NAME.fullmatch(name)) and sum(c.isdigit() for c in name) <= _MAX_DIGITS_IN_A_NAME


def _field_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Name the offending field the way a client wrote it: `bill`, `creditCardDetails.number` (or, for a name
    that is no identifier, "an unknown field")."""
    result = []
    for error in errors:
        loc = [part for part in error.get("loc", ()) if part not in ("body",)]
        # A query, path or header parameter's name is one the route declares (idempotency-key), never a client's.
        declared = bool(loc) and loc[0] in PARAMETER_PLACES
        field = ".".join(str(part) for part in loc) if declared or all(map(_echoable, loc)) else UNKNOWN_FIELD
        result.append({"field": field or "body", "message": error.get("msg", "invalid value")})
    return result


def _int_or_decimal(digits: str) -> int | Decimal:
    """An integer past Python's int/str digit limit stays a (huge) Decimal: validation refuses it with a 422
    naming its field, instead of the parser failing the whole request."""
    try:
        return int(digits)
    except ValueError:
        return Decimal(digits)


def _exact_decimal(text: str) -> Decimal | float:
    """A JSON number with a fraction or exponent, exactly. An exponent past what Decimal holds (1e99999999999999999999)
    is a value no field accepts, 0 or beyond any limit: it is the float JSON would give (0.0 or inf), refused
    by validation like any other out-of-range number."""
    try:
        return Decimal(text)
    except InvalidOperation:
        return float(text)


MAX_BODY_DEPTH = 32
"""Arrays and objects nested deeper than this are refused (400): no request body of this API is deeper than 3."""


class NestedTooDeeplyError(RecursionError):
    """A body nested past MAX_BODY_DEPTH: the same answer as the parser's own RecursionError, on every Python
    (3.11's json gives up near 1,000 levels, 3.13's parses 5,000)."""


def _depth_exceeds(value: Any, limit: int) -> bool:
    pending = [(value, 1)]  # iterative: the walk itself must not recurse on a hostile body
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            pending.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


def parse_json_body(text: str | bytes) -> Any:
    """The body as JSON with every number exact: decimals as Decimal (money is validated as written, never
    through a float), integers as int (or Decimal when too long for an int)."""
    body = json.loads(text, parse_float=_exact_decimal, parse_int=_int_or_decimal)
    if _depth_exceeds(body, MAX_BODY_DEPTH):
        raise NestedTooDeeplyError(f"nested deeper than {MAX_BODY_DEPTH}")
    return body


def _unreadable_body(detail: str) -> RequestValidationError:
    return RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": detail, "input": {}}])


UNAUTHORIZED = "A valid bearer token is required."
"""The authorizer's own 401 detail (template.yaml's UNAUTHORIZED gateway response): one answer for a bad token."""


def unauthorized() -> ProblemError:
    return ProblemError(401, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})


def refuse_expired_caller(app: APIGatewayRestResolver, clock: Callable[[], float]) -> None:
    """401 for a token that has expired since the authorizer allowed it.

    API Gateway answers from its authorizer cache (AuthorizerCacheTtlSeconds) whatever the token's ``exp``;
    the authorizer puts that ``exp`` in its context as ``expiresAt``. The request is as late as the later of
    the gateway's request time and our clock. A context without ``expiresAt`` (an Allow cached by an older
    authorizer) is let through: it ages out of the cache within the TTL.
    """
    authorizer = app.current_event.request_context.authorizer
    expires_at = authorizer.get("expiresAt") if authorizer else None
    if expires_at is None:
        return
    try:
        deadline = float(expires_at)  # a REST API hands context values over as strings
    except (TypeError, ValueError):
        raise unauthorized() from None
    received_ms = app.current_event.request_context.get("requestTimeEpoch")
    received = received_ms / 1000 if isinstance(received_ms, int | float) else 0.0
    if not math.isfinite(deadline) or max(received, clock()) >= deadline:
        raise unauthorized()


class JsonBodyValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, for an API whose bodies are JSON only, after the caller's expiry.

    A caller whose token has expired is refused first (refuse_expired_caller), before its request is
    validated, as the authorizer would have refused it. Any other content type is a 415 before a parser
    sees it (Powertools would parse forms and multipart itself, and raise plain ValueErrors about them),
    and the JSON parser's own failures on a hostile body are 400 here, where they happen: no global
    handler guesses from an error's type or message.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.clock = clock

    def handler(self, app: Any, next_middleware: NextMiddleware) -> Response:
        refuse_expired_caller(app, self.clock)
        return super().handler(app, next_middleware)

    def _get_body(self, app: Any) -> dict[str, Any]:
        # RFC 9110: the type and subtype are case-insensitive, and parameters (charset=UTF-8) do not change them.
        media_type = app.current_event.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type and media_type != "application/json":
            raise RequestUnsupportedContentType(
                "Unsupported content type",
                errors=[{"type": "unsupported_content_type", "loc": ("body",), "msg": "Send application/json."}],
            )
        try:
            return self._parse_json_data(app)
        except RecursionError:
            raise _unreadable_body("nested too deeply") from None
        except (UnicodeDecodeError, binascii.Error):
            raise _unreadable_body("not UTF-8") from None


def make_resolver(logger: Logger, clock: Callable[[], float] = time.time) -> APIGatewayRestResolver:
    """``clock``: seconds since the epoch, against which a caller's token expiry is checked."""
    app = APIGatewayRestResolver(enable_validation=True, serializer=_dumps, json_body_deserializer=parse_json_body)
    # Replaces the resolver's own request validation (it runs first, before any middleware of ours).
    app._request_validation_middleware = JsonBodyValidation(clock)

    def current_correlation_id() -> str:
        supplied = app.current_event.headers.get(CORRELATION_HEADER) or ""
        return supplied if _CORRELATION_ID.match(supplied) else app.current_event.request_context.request_id or ""

    def correlation(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
        correlation_id = current_correlation_id()
        logger.set_correlation_id(correlation_id)
        app.append_context(correlation_id=correlation_id)
        response = next_middleware(app)
        response.headers[CORRELATION_HEADER] = correlation_id
        return response

    def problem_response(
        status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> Response[str]:
        # Exception handlers answer outside the middleware: errors carry the correlation id too.
        return problem_answer(
            status, detail, headers={CORRELATION_HEADER: current_correlation_id(), **(headers or {})}, **extra
        )

    app.use(middlewares=[correlation])

    _answer_request_errors(app, problem_response, logger)
    _answer_failures(app, problem_response, logger)
    return app


Answer = Callable[..., Response[str]]
"""A problem+json answer carrying the request's correlation id (see make_resolver)."""


def _answer_request_errors(app: APIGatewayRestResolver, problem_response: Answer, logger: Logger) -> None:
    """What the client sent wrong (400/404/415/422), a ProblemError a handler raised, and our own bugs (500)."""

    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response[str]:
        errors = list(exc.errors())
        kinds = {e.get("type") for e in errors}
        if "json_invalid" in kinds:
            return problem_response(400, "The request body is not valid JSON.")
        fields = _field_errors(errors)
        if any(f["field"].startswith(PARAMETER_PLACES) for f in fields) and not any(
            f["field"] == "body" or not f["field"].startswith(PARAMETER_PLACES) for f in fields
        ):
            return problem_response(400, "Invalid query, path or header parameter.", errors=fields)
        names = ", ".join(sorted({f["field"] for f in fields}))
        return problem_response(422, f"Invalid request: {names}.", errors=fields)

    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported_content_type(exc: RequestUnsupportedContentType) -> Response[str]:
        return problem_response(415, "Send the body as application/json.")

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response[str]:
        # Whatever the body parser did not refuse is ours, not the client's: logged, and a 500 problem.
        logger.exception("unexpected error")
        return problem_response(500, "Something went wrong on our side.")

    @app.exception_handler(ProblemError)
    def known_problem(exc: ProblemError) -> Response[str]:
        return problem_response(exc.status, exc.detail, headers=exc.headers, **exc.extra)

    @app.exception_handler(InvalidPageTokenError)
    def bad_page_token(exc: InvalidPageTokenError) -> Response[str]:
        return problem_response(400, str(exc))

    @app.not_found
    def no_route(exc: NotFoundError) -> Response[str]:
        return problem_response(404, "No such route.")


def _answer_failures(app: APIGatewayRestResolver, problem_response: Answer, logger: Logger) -> None:
    """AWS failing or unreachable, and the idempotency store's answers: the ones a retry may cure."""

    @app.exception_handler(ClientError)
    def aws_error(exc: ClientError) -> Response[str]:
        # Still failing after the SDK's own retries: throttled or failing on AWS's side is 503 (the
        # client retries, with the same Idempotency-Key); a request AWS refuses as such is our bug.
        if is_transient(exc):
            logger.warning("AWS throttled or failed a request", extra={"error": error_code(exc)})
            return problem_response(503, BUSY, headers=retry_after())
        logger.exception("AWS request failed")
        return problem_response(500, "Something went wrong on our side.")

    @app.exception_handler(BotoCoreError)
    def aws_unreachable(exc: BotoCoreError) -> Response[str]:
        # Connection refused or dropped, read timeout: the request may or may not have been applied.
        logger.warning("AWS unreachable", extra={"error": type(exc).__name__})
        return problem_response(503, UNAVAILABLE, headers=retry_after())

    @app.exception_handler(KeyReusedError)
    def key_reused(exc: KeyReusedError) -> Response[str]:
        return problem_response(409, "This Idempotency-Key was used with a different request body.")

    @app.exception_handler(KeyInProgressError)
    def key_in_progress(exc: KeyInProgressError) -> Response[str]:
        detail = "A request with this Idempotency-Key is still in progress."
        return problem_response(409, detail, headers=retry_after())

    @app.exception_handler(StoreUnavailableError)
    def idempotency_unavailable(exc: StoreUnavailableError) -> Response[str]:
        return problem_response(503, UNAVAILABLE, headers=retry_after())


def caller_id(app: APIGatewayRestResolver) -> str:
    """The user the authorizer vouched for (context.userId, else principalId)."""
    authorizer = app.current_event.request_context.authorizer
    user_id = authorizer.get("userId") or authorizer.principal_id if authorizer else None
    if not user_id:
        raise unauthorized()
    return str(user_id)


def correlation_id(app: APIGatewayRestResolver) -> str:
    return str(app.context.get("correlation_id", ""))


IDEMPOTENCY_HEADER = "Idempotency-Key"
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        pattern=r"^[\x20-\x7e]{1,128}$",
        description="1 to 128 printable ASCII characters. The same key and body within 24 hours answers the "
        "first response again and creates nothing new; the same key with another body is 409.",
        examples=["order-2026-12-03-0001"],
    ),
]
"""An optional `Idempotency-Key` request header: declared on the route (so the OpenAPI document and clients
generated from it carry it) and validated by the resolver (an invalid one is 400)."""


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status, content_type="application/json", body=body, headers=headers or {})
