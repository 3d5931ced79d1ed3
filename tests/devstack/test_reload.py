"""A change to a function's code (or its layer) restarts its warm workers: the next request runs the new code."""

import shutil
import time
from pathlib import Path

import requests

from devstack import LocalStack, StackOptions

FIXTURES = Path(__file__).parent / "fixtures"


def layer_mark(stack: LocalStack) -> str:
    response = requests.get(f"{stack.base_url}/echo/x", headers={"Authorization": "user-alice"}, timeout=30)
    assert response.status_code == 200, response.text
    return str(response.json()["layer"])


def test_editing_a_layer_restarts_the_workers_that_use_it(tmp_path: Path):
    project = tmp_path / "project"
    shutil.copytree(FIXTURES, project)
    lines: list[str] = []
    with LocalStack(
        project / "template.yaml",
        StackOptions(
            port=0, parameter_overrides={"Delay": "0"}, logs_dir=tmp_path / "logs", watch=True, echo=lines.append
        ),
    ) as stack:
        before = layer_mark(stack)
        layer = project / "layers/common/fixture_core/__init__.py"
        layer.write_text(layer.read_text().replace(before, "edited-while-running"))
        deadline = time.monotonic() + 30
        while (mark := layer_mark(stack)) != "edited-while-running" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert mark == "edited-while-running"
        assert any("code changed" in line for line in lines)
