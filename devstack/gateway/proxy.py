"""The Lambda proxy integration's edges: reading the request body (API Gateway's payload limit), the
proxy response a function answers, and compressing the answer as the API's MinimumCompressionSize says."""

from __future__ import annotations

import base64
import gzip
import re
import zlib
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

MAX_BODY = 10 * 1024 * 1024


def negotiate_encoding(accept_encoding: str) -> str | None:
    """The content coding API Gateway would answer with: gzip, else deflate, if the client accepts it."""
    accepted: dict[str, float] = {}
    for part in accept_encoding.split(","):
        name, _, params = part.partition(";")
        match = re.search(r"q\s*=\s*([0-9.]+)", params)
        try:
            accepted[name.strip().lower()] = float(match.group(1)) if match else 1.0
        except ValueError:
            accepted[name.strip().lower()] = 0.0
    for coding in ("gzip", "deflate"):
        if accepted.get(coding, accepted.get("*", 0.0)) > 0:
            return coding
    return None


def compress_response(response: Response, accept_encoding: str, minimum_size: int | None) -> Response:
    """MinimumCompressionSize: a body of at least ``minimum_size`` bytes is compressed if the client accepts it."""
    body = bytes(response.body)
    if minimum_size is None or len(body) < minimum_size:
        return response
    if any(k == b"content-encoding" for k, _ in response.raw_headers):
        return response  # the function encoded it already
    coding = negotiate_encoding(accept_encoding)
    if coding is None:
        return response
    packed = gzip.compress(body) if coding == "gzip" else zlib.compress(body)
    response.body = packed
    response.raw_headers = [
        *(h for h in response.raw_headers if h[0] != b"content-length"),
        (b"content-length", str(len(packed)).encode()),
        (b"content-encoding", coding.encode()),
    ]
    return response


def _title(name: str) -> str:
    return "-".join(p[:1].upper() + p[1:] for p in name.split("-"))


class RequestRefusedError(Exception):
    """API Gateway answers the request itself, with the gateway response of type ``kind``."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


async def read_body(request: Request) -> bytes:
    """The request's body; past API Gateway's payload limit (declared or streamed) the gateway refuses it."""
    clen = request.headers.get("content-length")
    if clen and clen.isdigit() and int(clen) > MAX_BODY:
        raise RequestRefusedError("REQUEST_TOO_LARGE")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise RequestRefusedError("REQUEST_TOO_LARGE")
        chunks.append(chunk)
    return b"".join(chunks)


def _multi(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Name/value pairs as the proxy event gives them twice: the last value per name, and every value."""
    last: dict[str, str] = {}
    every: dict[str, list[str]] = {}
    for name, value in pairs:
        last[name] = value
        every.setdefault(name, []).append(value)
    return last, every


class _MalformedProxyResponseError(Exception):
    """The function's answer is not a Lambda proxy response API Gateway can read (the client gets a 502)."""


def _proxy_status(result: dict[str, Any]) -> int:
    try:
        status = int(result.get("statusCode", 200))
    except (TypeError, ValueError):
        raise _MalformedProxyResponseError from None
    if not 100 <= status <= 599:
        raise _MalformedProxyResponseError
    return status


def _proxy_body(result: dict[str, Any]) -> bytes:
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise _MalformedProxyResponseError
    try:
        return base64.b64decode(body) if body and result.get("isBase64Encoded") else (body or "").encode()
    except ValueError:
        raise _MalformedProxyResponseError from None


def _proxy_headers(result: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """multiValueHeaders, then the headers they do not name, lower-cased as API Gateway sends them."""
    mvh = result.get("multiValueHeaders") or {}
    hdrs = result.get("headers") or {}
    if not isinstance(mvh, dict) or not isinstance(hdrs, dict):
        raise _MalformedProxyResponseError
    raw: list[tuple[bytes, bytes]] = []
    seen: set[str] = set()
    for k, vals in mvh.items():
        for v in vals if isinstance(vals, list) else [vals]:
            raw.append((str(k).lower().encode("latin-1"), str(v).encode("latin-1")))
        seen.add(str(k).lower())
    for k, v in hdrs.items():
        if str(k).lower() not in seen:
            raw.append((str(k).lower().encode("latin-1"), str(v).encode("latin-1")))
    return raw


def event_body(body: bytes) -> tuple[str | None, bool]:
    """The proxy event's ``body`` and ``isBase64Encoded``: text as is, anything else in base64."""
    try:
        return (body.decode("utf-8") if body else None), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), True
