"""make run-docker's front passes a body that is not UTF-8 to the function, as API Gateway does (base64).

SAM local's start-api decodes every body as UTF-8 with no fallback (samcli's event_constructor) and
answers 502 for one that is not. Here SAM local is an httpx transport doing exactly that decode, the
gateway behind the front runs the real handlers in-process: the function's own 400 must come back.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from devstack.docker.front import SamApiFront
from devstack.gateway.app import Gateway
from devstack.lambdas.pool import InvokeResult
from devstack.tokens import DEV_JWT_SECRET, mint_token
from tests.support.lambda_env import AwsHarness

NOT_UTF8 = {
    "NUL and a lone surrogate": '"\x00\ud800"'.encode("utf-8", "surrogatepass"),
    "a lone continuation byte": b'{"bill": "\x80"}',
}


def _sam_local(request: httpx.Request) -> httpx.Response:
    """start-api's handling of the body: ``request_data.decode("utf-8")``, a 502 when that raises."""
    try:
        request.content.decode("utf-8")
    except UnicodeDecodeError:
        return httpx.Response(502, json={"message": "Internal server error"})
    return httpx.Response(599, json={"message": "not expected here: the test sends no UTF-8 body"})


@pytest.fixture
def front(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch) -> Any:
    api = aws.model.api
    assert api is not None

    def invoke(function: str, event: Any) -> InvokeResult:
        try:
            return InvokeResult(True, aws.invoke(function, event, monkeypatch), None, 1.0, "r")
        except Exception as exc:  # the authorizer refuses by raising, as in Lambda
            return InvokeResult(False, None, {"errorType": "Exception", "errorMessage": str(exc)}, 1.0, "r")

    gateway = Gateway(api, invoke, lambda *_: None)
    app = SamApiFront(api, "http://sam-local", gateway, lambda *_: None, gateway.translate_authorization)
    app.client = httpx.AsyncClient(base_url="http://sam-local", transport=httpx.MockTransport(_sam_local))
    yield app
    gateway.close()


def _post(app: SamApiFront, path: str, body: bytes) -> httpx.Response:
    headers = {"Authorization": f"Bearer {mint_token('alice', DEV_JWT_SECRET)}", "Content-Type": "application/json"}

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            return await client.post(path, content=body, headers=headers)

    return asyncio.run(send())


@pytest.mark.parametrize("path", ["/api/orders", "/api/payments/pay/01JD0000000000000000000001"])
@pytest.mark.parametrize("name", sorted(NOT_UTF8))
def test_a_body_that_is_not_utf8_is_the_functions_400_not_sam_locals_502(front, path, name):
    resp = _post(front, path, NOT_UTF8[name])
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert json.loads(resp.text)["status"] == 400
