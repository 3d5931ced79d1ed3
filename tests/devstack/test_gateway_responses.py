"""The local gateway answers its own errors as API Gateway does with template.yaml's GatewayResponses.

Each code the contract names is pinned, and so are the types the template leaves to DEFAULT_4XX/5XX:
they take that default's problem+json shape but keep API Gateway's own status code.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devstack.gateway.app import Gateway
from devstack.lambdas.pool import InvokeResult
from devstack.template import load_stack_model
from tests.support.lambda_env import TEMPLATE
from tests.unit.test_template_deploy import CONTRACT_GATEWAY_CODES, OTHER_AWS_CODES


def _never_invoked(logical_id: str, event: Any) -> InvokeResult:
    raise AssertionError("a gateway response invokes no function")


@pytest.fixture(scope="module")
def gateway() -> Any:
    api = load_stack_model(TEMPLATE).api
    assert api is not None
    gw = Gateway(api, _never_invoked, lambda *args: None)
    yield gw
    gw.close()


@pytest.mark.parametrize(("kind", "code"), sorted({**CONTRACT_GATEWAY_CODES, **OTHER_AWS_CODES}.items()))
def test_each_gateway_error_keeps_its_status_code(gateway, kind, code):
    response = gateway.gateway_response(kind, "req-1")
    assert response.status_code == code
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-amzn-ErrorType"] == kind
    body = json.loads(response.body)
    assert body["type"] == "about:blank"
    if kind in CONTRACT_GATEWAY_CODES:
        assert body["status"] == code
    else:  # DEFAULT_4XX / DEFAULT_5XX: the message and type filled in, no status the default cannot know
        assert "status" not in body
        assert body["errorType"] == kind
        assert isinstance(body["detail"], str) and body["detail"]


def test_a_failing_function_is_a_502(gateway):
    response = gateway.gateway_response("DEFAULT_5XX", "req-2")
    assert response.status_code == 502
    assert json.loads(response.body)["detail"] == "Internal server error"
