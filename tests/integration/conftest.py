"""The whole system in one process through the local stack engine (workers are its subprocesses)."""

from collections.abc import Iterator

import pytest

from devstack import LocalStack, StackOptions
from tests.support.chain import Chain
from tests.support.lambda_env import TEMPLATE

# Short delivery so the whole lifecycle completes in a test (a test that must act before delivery holds
# the stack's Wait states: stack.inspect.hold_waits). Short visibility timeout so retried messages come back quickly.
OVERRIDES = {"DeliveryDelaySeconds": "3", "InboxVisibilityTimeoutSeconds": "1", "InboxMaxReceiveCount": "3"}
# The payments reconciler's schedule, every 2 s instead of every minute (as make run's environment may set it).
SETTINGS = {"RECONCILE_INTERVAL_SECONDS": "2"}


# Package scope: the stack stops before another suite starts its own (one per process).
@pytest.fixture(scope="package")
def stack() -> Iterator[LocalStack]:
    options = StackOptions(port=0, parameter_overrides=OVERRIDES, env=SETTINGS, echo=lambda line: None)
    with LocalStack(TEMPLATE, options) as running:
        yield running


@pytest.fixture
def chain(stack: LocalStack) -> Iterator[Chain]:
    stack.faults.clear()
    yield Chain(stack)
    stack.faults.clear()
