"""The HTTP front of ``make run-docker``: API Gateway's answers in front of ``sam local start-api``."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import NamedTuple

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from devstack.gateway.app import Gateway
from devstack.gateway.proxy import RequestRefusedError, compress_response, event_body, read_body
from devstack.gateway.routes import CompiledRoute
from devstack.template import ACCOUNT_ID, REGION, REST_API_ID, ApiModel, ApiRoute

# SAM local's own answers (samcli.local.apigw.service_error_responses), and what API Gateway answers instead.
_SAM_ANSWERS: dict[tuple[int, str], str] = {
    (401, "Unauthorized"): "UNAUTHORIZED",
    (403, "User is not authorized to access this resource"): "ACCESS_DENIED",
    (403, "Missing Authentication Token"): "MISSING_AUTHENTICATION_TOKEN",
    (502, "No function defined for resource method"): "DEFAULT_5XX",
    (500, "Internal server error"): "DEFAULT_5XX",
}


_SAM_FAILURE = (502, "Internal server error")


_CORRELATION_ID = re.compile(r"^[\x21-\x7e]{1,128}$")  # as platform_core.api accepts it


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


class _Admitted(NamedTuple):
    """A request API Gateway lets through: its route, the headers for SAM local, the token sent, the body."""

    route: ApiRoute
    headers: list[tuple[str, str]]
    token: str
    body: bytes


def _relay(upstream: httpx.Response, raw_body: bytes, request_id: str) -> Response:
    """SAM local's answer of the function, as API Gateway passes it on (hop-by-hop headers dropped)."""
    out = Response(content=raw_body, status_code=upstream.status_code)
    out.raw_headers = [h for h in out.raw_headers if h[0] == b"content-length"] + [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in upstream.headers.multi_items()
        if k.lower() not in _HOP_BY_HOP
    ]
    out.raw_headers.append((b"x-amzn-requestid", request_id.encode()))
    return out


class SamApiFront:
    """ASGI front of ``sam local start-api``: the contract's base URL and answers, on ``PORT``."""

    def __init__(
        self,
        api: ApiModel,
        upstream: str,
        gateway: Gateway,
        record: Callable[[str, str, float, str, str], None],
        translate_authorization: Callable[[str], str],
    ) -> None:
        self.api = api
        self.stage = api.stage_name
        self.upstream = upstream
        self.gateway = gateway
        self.record = record
        self.translate_authorization = translate_authorization
        # One request at a time into SAM local. It runs one invocation per container at a time and starts a
        # function's timeout timer before the invocation waits for its container, so queued requests time
        # out (502) and the container is replaced; every request also goes through the one authorizer
        # container. Waiting here instead keeps SAM's timers to the invocation itself.
        self.one_at_a_time = asyncio.Semaphore(1)
        self.client = httpx.AsyncClient(
            base_url=upstream,
            timeout=httpx.Timeout(180.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self.handle(request)
        # API Gateway's MinimumCompressionSize, which SAM local does not apply.
        accept = request.headers.get("accept-encoding", "")
        await compress_response(response, accept, self.api.minimum_compression_size)(scope, receive, send)

    def _route(self, method: str, parts: list[str]) -> CompiledRoute | None:
        for c in self.gateway.routes:
            if c.route.method in (method, "ANY") and c.match(parts) is not None:
                return c
        return None

    async def handle(self, request: Request) -> Response:
        """Admit the request as API Gateway would, forward it to SAM local, and relay or map its answer."""
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        method = request.method.upper()
        raw = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1").split("?", 1)[0]
        parts = [p for p in raw.split("/") if p]
        label = f"http {method} {raw}"
        try:
            admitted = await self._admit(request, method, parts, request_id)
        except RequestRefusedError as refused:
            resp = self.gateway.gateway_response(refused.kind, request_id)
            self.record("-", label, (time.monotonic() - started) * 1000, f"{resp.status_code} (gateway)", "")
            return resp
        if event_body(admitted.body)[1]:  # base64: not UTF-8
            # SAM local decodes every body as UTF-8 with no fallback (samcli's event_constructor) and answers
            # 502; API Gateway passes such a body on in base64. The gateway builds that event and runs the
            # function in the same Lambda runtime (start-lambda), so the function answers its own 400.
            return await self.gateway.handle(request, body=admitted.body)
        route = admitted.route
        # The path as sent, trailing slash included (SAM local routes /docs/ to /docs, as API Gateway does).
        path = "/" + "/".join(parts[1:]) + ("/" if raw.endswith("/") and len(parts) > 1 else "")
        try:
            upstream, raw_body = await self._forward(method, path, request.url.query, admitted.headers, admitted.body)
        except httpx.HTTPError as exc:
            resp = self.gateway.gateway_response("DEFAULT_5XX", request_id)
            self.record(route.function, label, (time.monotonic() - started) * 1000, f"502 sam local: {exc}", "")
            return resp
        kind = _sam_answer(upstream.status_code, raw_body)
        if kind == "SAM_FAILURE" and route.auth != "NONE":
            # SAM local answers 502 both when the function fails and when the authorizer refuses the token
            # (it raises "Unauthorized", which SAM cannot read as a policy). Ask the authorizer, in the same
            # Lambda runtime through start-lambda, which one it was: API Gateway answers a refusal with 401.
            kind = await self._authorizer_verdict(route.auth, admitted.token, method, parts[1:])
        elif kind == "SAM_FAILURE":
            kind = "DEFAULT_5XX"
        elapsed = (time.monotonic() - started) * 1000
        if kind:
            resp = self.gateway.gateway_response(kind, request_id)
            self.record(route.function, label, elapsed, f"{resp.status_code} (gateway: {kind})", "")
            return resp
        out = _relay(upstream, raw_body, request_id)
        corr = upstream.headers.get("x-correlation-id", "")
        self.record(route.function, label, elapsed, str(upstream.status_code), corr)
        return out

    async def _admit(self, request: Request, method: str, parts: list[str], request_id: str) -> _Admitted:
        """What API Gateway checks before the integration runs: stage and route, body size, a token sent."""
        if not parts or parts[0] != self.stage:
            raise RequestRefusedError("MISSING_AUTHENTICATION_TOKEN")
        compiled = self._route(method, parts[1:])
        if compiled is None:
            raise RequestRefusedError("MISSING_AUTHENTICATION_TOKEN")
        body = await read_body(request)
        route = compiled.route
        headers, token = self._upstream_headers(request, route.auth, request_id)
        if route.auth != "NONE" and not token.strip():
            raise RequestRefusedError("UNAUTHORIZED")
        return _Admitted(route, headers, token, body)

    async def _forward(
        self, method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[httpx.Response, bytes]:
        """The request to SAM local: its answer, and the body exactly as the function sent it."""
        request_out = self.client.build_request(
            method,
            path + (f"?{query}" if query else ""),
            # bytes, as received: a header value need not be ASCII (API Gateway passes it on)
            headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            content=body,
        )
        sent = {k.lower() for k, _ in headers}
        for name in ("accept", "accept-encoding", "user-agent"):  # httpx's defaults: only what the client sent
            if name not in sent:
                del request_out.headers[name]
        async with self.one_at_a_time:
            upstream = await self.client.send(request_out, stream=True)
            try:
                # A gzip body stays gzip, as API Gateway passes it on (httpx would decode it).
                raw_body = b"".join([chunk async for chunk in upstream.aiter_raw()])
            finally:
                await upstream.aclose()
        return upstream, raw_body

    def _upstream_headers(self, request: Request, auth: str, request_id: str) -> tuple[list[tuple[str, str]], str]:
        """The request's headers for SAM local (the legacy token translated), and the token sent."""
        identity = self.api.authorizers[auth].identity_header.lower() if auth != "NONE" else ""
        token = ""
        headers: list[tuple[str, str]] = []
        for raw_k, raw_v in request.headers.raw:
            name, value = raw_k.decode("latin-1"), raw_v.decode("latin-1")
            if name.lower() in {"host", "content-length", "connection"}:
                continue
            if identity and name.lower() == identity:
                value = token = self.translate_authorization(value)
            headers.append((name, value))
        supplied = next((v for k, v in headers if k.lower() == "x-correlation-id"), "")
        if not _CORRELATION_ID.match(supplied):
            # SAM local gives every request the same requestContext.requestId (a default argument, computed
            # once per process), which the functions take as the correlation id when the client sends none
            # (or an unusable one): give them this request's id instead, as API Gateway's would be.
            headers = [(k, v) for k, v in headers if k.lower() != "x-correlation-id"]
            headers.append(("X-Correlation-Id", request_id))
        return headers, token

    async def _authorizer_verdict(self, auth_name: str, token: str, method: str, parts: list[str]) -> str:
        auth = self.api.authorizers[auth_name]
        method_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{REST_API_ID}/{self.stage}/{method}/" + "/".join(parts)
        outcome = await self.gateway._run(self.gateway.authorize, auth.function, token, method_arn, 0)
        return outcome if isinstance(outcome, str) else "DEFAULT_5XX"

    async def aclose(self) -> None:
        await self.client.aclose()


def _sam_answer(status: int, content: bytes) -> str:
    """The gateway response type for SAM local's own error answers ("" for a function's answer)."""
    if status not in (401, 403, 500, 502):
        return ""
    try:
        body = json.loads(content)
    except ValueError:
        return ""
    if not isinstance(body, dict) or set(body) != {"message"}:
        return ""
    key = (status, str(body["message"]))
    if key == _SAM_FAILURE:
        return "SAM_FAILURE"
    return _SAM_ANSWERS.get(key, "")
