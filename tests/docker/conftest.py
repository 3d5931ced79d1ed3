"""``make run-docker`` under test: the whole system with every function in the Lambda runtime in Docker.

One stack for the session (starting it creates a container per function). Docker, the base image and
the host-architecture build are prepared first, as ``make run-docker`` does: on a machine without them
(CI's clean clone) this installs Docker and builds the image. Never skipped: without Docker the suite
fails with the one-line reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack import LocalStack, StackOptions
from devstack.docker.sam_cli import sam_local_invoke
from devstack.docker.samlocal import DockerRuntime, prepare_runtime

ROOT = Path(__file__).resolve().parents[2]
# The e2e suite runs here as against a deployed stack (API_URL: it cannot hold Wait states), so the
# delay is its window to see a confirmed order and cancel it, through SAM local's slower requests.
DELIVERY_DELAY_SECONDS = 10


@pytest.fixture(scope="session")
def docker_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    from devstack.docker.image import DockerUnavailableError

    logs = tmp_path_factory.mktemp("run-docker") / "logs"
    lines: list[str] = []
    try:
        runtime = prepare_runtime(ROOT / "template.yaml", logs, echo=print)
    except DockerUnavailableError as exc:
        pytest.fail(f"run-docker: {exc}")
    stack = LocalStack(
        ROOT / "template.yaml",
        StackOptions(
            port=0,
            parameter_overrides={"DeliveryDelaySeconds": str(DELIVERY_DELAY_SECONDS)},
            logs_dir=logs,
            watch=False,
            echo=lines.append,
            docker=runtime,
        ),
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def runtime(docker_stack: LocalStack) -> DockerRuntime:
    assert docker_stack.docker is not None
    return docker_stack.docker


def sam_invoke(runtime: DockerRuntime, function: str, event: dict[str, Any], tmp_path: Path) -> Any:
    """``sam local invoke FUNCTION -e EVENT`` with make run-docker's options; the function's result."""
    path = tmp_path / f"{function}-event.json"
    path.write_text(json.dumps(event))
    assert runtime.env_file is not None
    res = sam_local_invoke(runtime.sam_args(runtime.env_file), function, path)
    assert res.returncode == 0, f"sam local invoke failed:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
    # The function's result is the last line on stdout (the function's own log lines go to stderr).
    out = [ln for ln in res.stdout.splitlines() if ln.strip()]
    assert out, f"no result on stdout:\n{res.stderr[-3000:]}"
    return json.loads(out[-1])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The first test also starts the stack: on a clean machine that installs Docker and builds the
    # base image (minutes); the e2e suite runs inside one test.
    for item in items:
        item.add_marker(pytest.mark.timeout(2400))
