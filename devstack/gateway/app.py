"""API Gateway (REST, Lambda proxy) emulation on starlette: routes, TOKEN authorizer, gateway responses."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from devstack.gateway.proxy import (
    RequestRefusedError,
    _MalformedProxyResponseError,
    _multi,
    _proxy_body,
    _proxy_headers,
    _proxy_status,
    _title,
    compress_response,
    event_body,
    read_body,
)
from devstack.gateway.routes import _compile, _Matched, _split, policy_allows
from devstack.lambdas.pool import InvokeResult
from devstack.template import ACCOUNT_ID, REGION, REST_API_ID, ApiModel, GatewayResponse

# API Gateway's own status codes and messages per response type ("Gateway response types for API Gateway"),
# used when the template does not customize a type. A type the template leaves out takes the headers and
# body of DEFAULT_4XX / DEFAULT_5XX but keeps its own status code, unless that default sets a StatusCode.
_AWS_DEFAULTS: dict[str, tuple[int, str]] = {
    "ACCESS_DENIED": (403, "User is not authorized to access this resource"),
    "API_CONFIGURATION_ERROR": (500, "Internal server error"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, "Internal server error"),
    "AUTHORIZER_FAILURE": (500, "Internal server error"),
    "BAD_REQUEST_PARAMETERS": (400, "Invalid request parameters"),
    "BAD_REQUEST_BODY": (400, "Invalid request body"),
    "EXPIRED_TOKEN": (403, "The security token included in the request is expired"),
    "INTEGRATION_FAILURE": (504, "Internal server error"),
    "INTEGRATION_TIMEOUT": (504, "Endpoint request timed out"),
    "INVALID_API_KEY": (403, "Forbidden"),
    "INVALID_SIGNATURE": (403, "The request signature we calculated does not match the signature you provided"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "QUOTA_EXCEEDED": (429, "Limit Exceeded"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "RESOURCE_NOT_FOUND": (404, "Not Found"),
    "THROTTLED": (429, "Too Many Requests"),
    "UNAUTHORIZED": (401, "Unauthorized"),
    "UNSUPPORTED_MEDIA_TYPE": (415, "Unsupported Media Type"),
    "WAF_FILTERED": (403, "Forbidden"),
    # A Lambda proxy integration that fails or answers malformed output is a 502.
    "DEFAULT_5XX": (502, "Internal server error"),
    "DEFAULT_4XX": (400, "Bad request"),
}


MAX_THREADS = 64  # requests in flight at once (each waits in a thread for its function)


class Gateway:
    """ASGI app. ``invoke(logical_id, event) -> InvokeResult``; ``record(fn, trigger, ms, outcome, corr)``.

    ``clock`` (seconds since the epoch) is the gateway's: the request time it gives the functions and the age
    of its authorizer cache entries. Tests move it to reach the moment a cached token has expired.
    """

    def __init__(
        self,
        api: ApiModel,
        invoke: Callable[[str, Any], InvokeResult],
        record: Callable[[str, str, float, str, str], None],
        *,
        translate_authorization: Callable[[str], str] = lambda header: header,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api = api
        self.clock = clock
        self.stage = api.stage_name
        self.invoke = invoke
        self.record = record
        # Applied to the identity header before the authorizer sees it (the local stack: the fixed demo token).
        self.translate_authorization = translate_authorization
        self.routes = sorted((_compile(r) for r in api.routes), key=lambda c: c.specificity, reverse=True)
        self.executor = ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="gateway")
        self._auth_cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._auth_lock = threading.Lock()

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    # ---------------------------------------------------------------- responses
    def gateway_response(self, kind: str, request_id: str, detail: str | None = None) -> Response:
        gw: GatewayResponse | None = self.api.gateway_responses.get(kind)
        default_status, default_msg = _AWS_DEFAULTS.get(kind, (500, "Internal server error"))
        if gw is None:
            fallback = "DEFAULT_5XX" if default_status >= 500 else "DEFAULT_4XX"
            gw = self.api.gateway_responses.get(fallback)
            if gw is not None:
                gw = GatewayResponse(default_status if not gw.status else gw.status, gw.headers, gw.body)
        if gw is None:
            gw = GatewayResponse(
                default_status, {"Content-Type": "application/json"}, json.dumps({"message": default_msg})
            )
        status = gw.status or default_status
        message = default_msg if detail is None else detail
        body = (
            gw.body.replace("$context.requestId", request_id)
            .replace("$context.error.messageString", json.dumps(message))
            .replace("$context.error.message", message)
            .replace("$context.error.responseType", kind)
        )
        headers = dict(gw.headers)
        headers.setdefault("Content-Type", "application/json")
        headers["x-amzn-RequestId"] = request_id
        headers["x-amzn-ErrorType"] = kind
        return Response(content=body, status_code=status, headers=headers)

    # ---------------------------------------------------------------- ASGI
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self.handle(request)
        accept = request.headers.get("accept-encoding", "")
        await compress_response(response, accept, self.api.minimum_compression_size)(scope, receive, send)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def handle(self, request: Request, body: bytes | None = None) -> Response:
        """One request as API Gateway runs it: route, body, authorizer, proxy event, the function, its answer.

        ``body``: the request's body when the caller has already read it from the stream (the docker front).
        """
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        method = request.method.upper()
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        raw = raw_path.decode("latin-1").split("?", 1)[0]
        try:
            matched = self._match_route(method, raw)
            body = await read_body(request) if body is None else body
            authorizer = await self._authorize_request(request, matched)
        except RequestRefusedError as refused:
            label = f"http {method} {unquote(raw)}"
            return self._log_gw(label, started, self.gateway_response(refused.kind, request_id))
        event = self._proxy_event(request, request_id, matched, body, authorizer)
        res: InvokeResult = await self._run(self.invoke, matched.route.function, event)
        return self._map_result(matched.route.function, f"http {method} {matched.path}", res, request_id)

    def _match_route(self, method: str, raw_path: str) -> _Matched:
        """The most specific route of the stage for the method and path (unknown ones: API Gateway's 403)."""
        parts = _split(raw_path)
        if not parts or unquote(parts[0]) != self.stage:
            raise RequestRefusedError("MISSING_AUTHENTICATION_TOKEN")
        for c in self.routes:
            if c.route.method not in (method, "ANY"):
                continue
            params = c.match(parts[1:])
            if params is not None:
                return _Matched(c.route, method, params, parts[1:], trailing_slash=raw_path.endswith("/"))
        raise RequestRefusedError("MISSING_AUTHENTICATION_TOKEN")

    async def _authorize_request(self, request: Request, matched: _Matched) -> dict[str, Any] | None:
        """The route's TOKEN authorizer: the event's requestContext.authorizer (None for a route without one)."""
        route = matched.route
        if route.auth == "NONE":
            return None
        auth = self.api.authorizers[route.auth]
        token = self.translate_authorization(request.headers.get(auth.identity_header, ""))
        if not token.strip():
            raise RequestRefusedError("UNAUTHORIZED")
        method_arn = (
            f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{REST_API_ID}/{self.stage}/{matched.method}"
            f"{'/'.join([''] + [unquote(p) for p in matched.parts])}"
        )
        # A cached policy is answered on the event loop: a thread hop costs more than the lookup.
        cached = self._cached_policy(auth.function, token, auth.ttl)
        if cached is not None:
            outcome = self._apply_policy(cached, method_arn)
        else:
            outcome = await self._run(self.authorize, auth.function, token, method_arn, auth.ttl)
        if isinstance(outcome, str):
            raise RequestRefusedError(outcome)
        return outcome

    def _proxy_event(
        self,
        request: Request,
        request_id: str,
        matched: _Matched,
        body_bytes: bytes,
        authorizer: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """The REST API's Lambda proxy event (payload format 1.0) for the matched request."""
        route, method = matched.route, matched.method
        headers, multi_headers = _multi(
            (_title(k.decode("latin-1")), v.decode("latin-1")) for k, v in request.headers.raw
        )
        qs, mqs = _multi(parse_qsl(request.url.query, keep_blank_values=True))
        body, is_b64 = event_body(body_bytes)
        now = self.clock()
        client = request.client
        return {
            "resource": route.path,
            "path": matched.path,
            "httpMethod": method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": qs or None,
            "multiValueQueryStringParameters": mqs or None,
            "pathParameters": matched.params or None,
            "stageVariables": None,
            "requestContext": {
                "accountId": ACCOUNT_ID,
                "apiId": REST_API_ID,
                "resourceId": route.path,
                "resourcePath": route.path,
                "httpMethod": method,
                "extendedRequestId": request_id,
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "path": f"/{self.stage}{matched.path}",
                "protocol": "HTTP/1.1",
                "stage": self.stage,
                "domainPrefix": "localhost",
                "requestTimeEpoch": int(now * 1000),
                "requestId": request_id,
                "domainName": request.headers.get("host", "127.0.0.1"),
                "identity": {
                    "sourceIp": client.host if client else "127.0.0.1",
                    "userAgent": request.headers.get("user-agent"),
                    "accessKey": None,
                    "accountId": None,
                    "caller": None,
                    "user": None,
                    "userArn": None,
                },
                **({"authorizer": authorizer} if authorizer is not None else {}),
            },
            "body": body,
            "isBase64Encoded": is_b64,
        }

    def _map_result(self, function: str, trigger: str, res: InvokeResult, request_id: str) -> Response:
        """The function's answer as the client gets it: a failed or malformed invocation is the DEFAULT_5XX."""
        if not res.ok:
            resp = self.gateway_response("DEFAULT_5XX", request_id)
            self.record(function, trigger, res.duration_ms, f"{resp.status_code} error {res.error_message}", "")
            return resp
        built = self._build_response(res.result, request_id)
        if built is None:
            resp = self.gateway_response("DEFAULT_5XX", request_id)
            self.record(function, trigger, res.duration_ms, f"{resp.status_code} malformed Lambda proxy response", "")
            return resp
        corr = next((v.decode() for k, v in built.raw_headers if k.lower() == b"x-correlation-id"), "")
        self.record(function, trigger, res.duration_ms, str(built.status_code), corr)
        return built

    def _log_gw(self, label: str, started: float, resp: Response) -> Response:
        self.record("-", label, (time.monotonic() - started) * 1000, f"{resp.status_code} (gateway)", "")
        return resp

    def _build_response(self, result: Any, request_id: str) -> Response | None:
        if not isinstance(result, dict):
            return None
        try:
            status, content, raw = _proxy_status(result), _proxy_body(result), _proxy_headers(result)
        except _MalformedProxyResponseError:
            return None
        names = {k for k, _ in raw}
        if b"content-type" not in names:
            raw.append((b"content-type", b"application/json"))
        raw.append((b"x-amzn-requestid", request_id.encode()))
        resp = Response(content=content, status_code=status)
        resp.raw_headers = [h for h in resp.raw_headers if h[0] == b"content-length"] + raw
        return resp

    # ---------------------------------------------------------------- authorizer
    def _cached_policy(self, function: str, token: str, ttl: int) -> dict[str, Any] | None:
        if ttl <= 0:
            return None
        with self._auth_lock:
            hit = self._auth_cache.get((function, token))
        return hit[1] if hit and hit[0] > self.clock() else None

    def authorize(self, function: str, token: str, method_arn: str, ttl: int) -> dict[str, Any] | str:
        """Returns the requestContext.authorizer dict, or a gateway response type on failure."""
        key = (function, token)
        now = self.clock()
        cached = self._cached_policy(function, token, ttl)
        if cached is None:
            event = {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}
            res = self.invoke(function, event)
            if not res.ok:
                msg = str((res.error or {}).get("errorMessage", ""))
                if msg == "Unauthorized":
                    self.record(function, "authorizer", res.duration_ms, "401 Unauthorized", "")
                    return "UNAUTHORIZED"
                self.record(function, "authorizer", res.duration_ms, f"500 error {res.error_message}", "")
                return "AUTHORIZER_FAILURE"
            result = res.result
            if not isinstance(result, dict) or "policyDocument" not in result or "principalId" not in result:
                self.record(function, "authorizer", res.duration_ms, "500 malformed authorizer response", "")
                return "AUTHORIZER_CONFIGURATION_ERROR"
            cached = result
            if ttl > 0:
                with self._auth_lock:
                    self._auth_cache[key] = (now + ttl, result)
            self.record(function, "authorizer", res.duration_ms, f"principal {result.get('principalId')}", "")
        return self._apply_policy(cached, method_arn)

    @staticmethod
    def _apply_policy(cached: dict[str, Any], method_arn: str) -> dict[str, Any] | str:
        if not policy_allows(cached.get("policyDocument"), method_arn):
            return "ACCESS_DENIED"
        ctx: dict[str, Any] = {"principalId": cached.get("principalId")}
        extra = cached.get("context")
        if isinstance(extra, dict):
            ctx.update(extra)
        if cached.get("usageIdentifierKey"):
            ctx["usageIdentifierKey"] = cached["usageIdentifierKey"]
        return ctx
