"""Generated requests from the committed OpenAPI document: no 5xx, and every response conforms to it."""

from __future__ import annotations

import schemathesis
from hypothesis import settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from devstack import LocalStack
from tests.resilience.conftest import ROOT
from tests.resilience.support import RECEIVED, Seen

schema = schemathesis.openapi.from_path(ROOT / "openapi.json")
PROFILE = settings.get_profile("resilience")
SETTLE_EACH_TEST = False
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, status_code_conformance]


@schema.exclude(path="/docs").parametrize()
@settings(PROFILE, max_examples=15)
def test_api_conforms_to_its_document(case: schemathesis.Case, stack: LocalStack):
    # Always a valid token: the generated data is what is under test here (tokens have their own tests).
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {stack.token('schemathesis')}"}
    response = case.call(base_url=stack.base_url, timeout=30)
    RECEIVED.append(Seen(case.method, case.formatted_path, response.status_code, dict(response.headers), response.text))
    case.validate_response(response, checks=CHECKS)
