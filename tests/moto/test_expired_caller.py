"""A token that expires while API Gateway still caches its Allow is refused with the authorizer's own 401.

The authorizer's answer is cached per token (AuthorizerCacheTtlSeconds, 300 s by default) whatever the
token's ``exp``; the authorizer hands that ``exp`` to the functions (``context.expiresAt``) and the shared
resolver refuses a request made after it. Time is moved with the gateway's injected clock, never slept.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from devstack.gateway.app import Gateway
from devstack.lambdas.pool import InvokeResult
from devstack.tokens import DEV_JWT_SECRET
from tests.support.lambda_env import ApiRequest, AwsHarness, Response, api_event

ROUTES = [
    ("CreateOrderFunction", "create-order.json", None),
    ("ListOrdersFunction", "list-orders.json", None),
    ("GetOrderFunction", "get-order.json", {"orderId": "01JD0000000000000000000001"}),
    ("CancelOrderFunction", "cancel-order.json", {"orderId": "01JD0000000000000000000001"}),
    ("ListPaymentsFunction", "list-payments.json", None),
    ("GetPaymentFunction", "get-payment.json", {"orderId": "01JD0000000000000000000001"}),
    ("PayOrderFunction", "pay-order.json", {"orderId": "01JD0000000000000000000001"}),
]


class Clock:
    """The gateway's clock: real time, plus however far a test has moved it."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _unauthorized_answer() -> dict[str, Any]:
    """What API Gateway answers for a refused token (template.yaml's UNAUTHORIZED gateway response)."""
    from devstack.template import load_stack_model
    from tests.support.lambda_env import TEMPLATE

    api = load_stack_model(TEMPLATE).api
    assert api is not None
    gateway = Gateway(api, lambda *_: None, lambda *_: None)  # type: ignore[arg-type,return-value]
    try:
        return dict(json.loads(gateway.gateway_response("UNAUTHORIZED", "req").body))
    finally:
        gateway.close()


def _assert_refused_as_the_authorizer_does(response: Response) -> None:
    assert response.status == 401, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.body == _unauthorized_answer()


@pytest.mark.parametrize(("function", "sample", "path"), ROUTES)
def test_every_route_refuses_a_caller_whose_token_has_expired(aws: AwsHarness, monkeypatch, function, sample, path):
    """Expired by our clock, or by the gateway's request time: 401, and never 422 for a bad body first."""
    now = time.time()
    expired = api_event(sample, ApiRequest(path_params=path, expires_at=now - 1, raw_body='{"bill": "x"}'))
    _assert_refused_as_the_authorizer_does(Response.of(aws.invoke(function, expired, monkeypatch)))

    received_after_expiry = api_event(sample, ApiRequest(path_params=path, expires_at=now + 600))
    received_after_expiry["requestContext"]["requestTimeEpoch"] = int((now + 600) * 1000)
    _assert_refused_as_the_authorizer_does(Response.of(aws.invoke(function, received_after_expiry, monkeypatch)))

    unreadable = api_event(sample, ApiRequest(path_params=path))
    unreadable["requestContext"]["authorizer"]["expiresAt"] = "soon"
    _assert_refused_as_the_authorizer_does(Response.of(aws.invoke(function, unreadable, monkeypatch)))


def test_a_caller_whose_token_is_still_valid_is_served(aws: AwsHarness, monkeypatch):
    for expires_at in (time.time() + 600, None):  # None: an Allow cached by an authorizer without expiresAt
        event = api_event("list-orders.json", ApiRequest(expires_at=expires_at))
        assert Response.of(aws.invoke("ListOrdersFunction", event, monkeypatch)).status == 200


@pytest.fixture
def gateway(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Gateway, Clock, list[str]]]:
    """The local gateway over the template's API, its cache on, each function run in-process by its handler."""
    api = aws.model.api
    assert api is not None and api.authorizers["JwtAuthorizer"].ttl == 300
    invoked: list[str] = []

    def invoke(function: str, event: Any) -> InvokeResult:
        invoked.append(function)
        try:
            result = aws.invoke(function, event, monkeypatch)
        except Exception as exc:  # the authorizer refuses by raising, as in Lambda
            return InvokeResult(False, None, {"errorType": "Exception", "errorMessage": str(exc)}, 1.0, "r")
        return InvokeResult(True, result, None, 1.0, "r")

    clock = Clock()
    gw = Gateway(api, invoke, lambda *_: None, clock=clock)
    try:
        yield gw, clock, invoked
    finally:
        gw.close()


def _send(gw: Gateway, method: str, path: str, headers: dict[str, str], body: Any = None) -> httpx.Response:
    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gw), base_url="http://127.0.0.1") as client:
            return await client.request(method, path, headers=headers, json=body)

    return asyncio.run(send())


def test_an_expired_token_is_401_while_the_gateway_still_caches_its_allow(gateway):
    gw, clock, invoked = gateway
    exp = int(time.time()) + 60
    token = jwt.encode({"sub": "alice", "iat": exp - 60, "exp": exp}, DEV_JWT_SECRET, algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}"}
    assert _send(gw, "GET", "/api/orders", headers).status_code == 200
    assert invoked == ["AuthorizerFunction", "ListOrdersFunction"]

    clock.offset = 120  # the token expired a minute ago; the cached Allow has four minutes left
    for method, body in [("GET", None), ("POST", {"bill": "not a number"})]:
        answer = _send(gw, method, "/api/orders", headers, body)
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.json() == _unauthorized_answer()
    # The cache answered: the authorizer ran once, for the first request only.
    assert invoked == ["AuthorizerFunction", "ListOrdersFunction", "ListOrdersFunction", "CreateOrderFunction"]
