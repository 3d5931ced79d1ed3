"""A representative part of the end-to-end suite (tests/e2e), unchanged, against the run-docker stack.

What the Lambda runtime can break and make run cannot: the packaging (layer, imports, handlers), the
event SAM local builds, its authorizer wiring, and the event functions run through start-lambda. So every
route, the authorizer's answers and every event flow run here; the rest of tests/e2e exercises the same
code that make run runs in-process, and runs there (make test's e2e suite). The concurrency tests stay
out: the front sends one request at a time into SAM local, so nothing there runs concurrently.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from devstack import LocalStack
from tests.docker.conftest import DELIVERY_DELAY_SECONDS, ROOT

pytestmark = pytest.mark.slow

# pytest fails (exit 4) on a name that no longer exists, so a renamed test cannot silently drop out.
IN_THE_LAMBDA_RUNTIME = [
    # every event flow: confirm and deliver, decline, void, refund, cancel racing the payment
    "tests/e2e/test_flows.py",
    # the authorizer: every route needs a token, refused tokens, both header forms, the fixed tokens
    "tests/e2e/test_auth.py::test_every_route_needs_a_token",
    "tests/e2e/test_auth.py::test_malformed_authorization_is_401",
    "tests/e2e/test_auth.py::test_expired_token_is_401",
    "tests/e2e/test_auth.py::test_token_signed_with_another_secret_is_401",
    "tests/e2e/test_auth.py::test_bearer_and_bare_token_are_the_same_user",
    "tests/e2e/test_auth.py::test_fixed_tokens_work",
    # every route, with its idempotency and error answers
    "tests/e2e/test_orders.py::test_create_order_returns_201_with_location_and_created_order",
    "tests/e2e/test_orders.py::test_body_that_is_not_json_is_400",
    "tests/e2e/test_orders.py::test_bad_bill_is_422_naming_the_field",
    "tests/e2e/test_orders.py::test_idempotency_key_replays_the_same_order",
    "tests/e2e/test_orders.py::test_idempotency_key_with_a_different_body_is_409",
    "tests/e2e/test_orders.py::test_pagination_chains_with_next_token",
    "tests/e2e/test_orders.py::test_get_order_200_and_unknown_404",
    "tests/e2e/test_orders.py::test_cancel_created_order_then_again_is_a_no_op",
    "tests/e2e/test_payments.py::test_payment_is_404_until_created_then_pending_for_the_same_bill",
    "tests/e2e/test_payments.py::test_pay_returns_200_paid_with_brand_and_last4_only",
    "tests/e2e/test_payments.py::test_declined_payment_is_402_problem_carrying_the_payment",
    "tests/e2e/test_payments.py::test_paying_twice_is_409",
    "tests/e2e/test_payments.py::test_malformed_card_is_422_and_leaves_payment_pending",
    "tests/e2e/test_payments.py::test_pay_idempotency_key_replays_the_same_response",
    "tests/e2e/test_payments.py::test_list_payments_newest_first_and_paginated",
    "tests/e2e/test_isolation_and_docs.py",
]


def test_the_e2e_suites_routes_auth_and_flows_pass_against_run_docker(docker_stack: LocalStack):
    env = {
        **os.environ,
        "API_URL": docker_stack.base_url,
        "E2E_JWT_SECRET": docker_stack.jwt_secret,
        "E2E_DELIVERY_DELAY_SECONDS": str(DELIVERY_DELAY_SECONDS),
    }
    res = subprocess.run(  # noqa: S603 (our own interpreter and test ids)
        [sys.executable, "-m", "pytest", *IN_THE_LAMBDA_RUNTIME, "-q", "-p", "no:cacheprovider", "-o", "addopts=-ra"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    summary = res.stdout.strip().splitlines()[-1:] or [res.stderr[-500:]]
    print(f"tests/e2e against {docker_stack.base_url}: {summary[0]}")
    assert res.returncode == 0, res.stdout[-12000:] + res.stderr[-3000:]
    assert " failed" not in summary[0] and " skipped" not in summary[0]
