from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import LocalStack, StackOptions

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    logs = tmp_path_factory.mktemp("logs")
    with LocalStack(
        FIXTURE_TEMPLATE,
        StackOptions(port=0, parameter_overrides={"Delay": "0"}, logs_dir=logs, watch=False, echo=lambda line: None),
    ) as s:
        yield s
