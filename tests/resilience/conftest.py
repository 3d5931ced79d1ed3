"""One local stack for the whole resilience suite (package scope: it is stopped before other suites
start theirs, since only one LocalStack may run per process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

from devstack import LocalStack, StackOptions
from tests.resilience.support import drain

ROOT = Path(__file__).resolve().parents[2]

# Bounded and reproducible: few examples, no deadline (a stack round trip is not a unit of work),
# derandomized so CI runs the same examples every time; no shrinking, so even a failing run stays bounded
# (each example is a few seconds of a live stack).
settings.register_profile(
    "resilience",
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    database=None,
)

OVERRIDES = {"DeliveryDelaySeconds": "0", "InboxVisibilityTimeoutSeconds": "1", "InboxMaxReceiveCount": "3"}


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    tmp = tmp_path_factory.mktemp("resilience")
    with LocalStack(
        ROOT / "template.yaml",
        StackOptions(
            port=0,
            parameter_overrides=OVERRIDES,
            env={"RECONCILE_INTERVAL_SECONDS": "1"},  # the payments reconciler's schedule, every second
            echo=lambda line: None,
            watch=False,
            logs_dir=tmp / "logs",
            endpoint_file=tmp / "endpoint.json",
        ),
    ) as s:
        yield s


@pytest.fixture(autouse=True)
def _settled(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts and ends with no fault, nothing in flight and empty DLQs."""
    if "stack" not in request.fixturenames or not getattr(request.module, "SETTLE_EACH_TEST", True):
        yield
        return
    s: LocalStack = request.getfixturevalue("stack")
    s.faults.clear()
    s.inspect.wait_idle(60)
    yield
    s.faults.clear()
    s.inspect.wait_idle(60)
    leftovers = {dlq: drain(s, dlq) for dlq in ("OrdersInboxDLQ", "PaymentsInboxDLQ")}
    # A test that dead-letters messages on purpose takes them out itself; anything else is a lost message.
    assert not any(leftovers.values()), f"messages dead-lettered unexpectedly: {leftovers}"
