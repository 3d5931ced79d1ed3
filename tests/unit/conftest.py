"""tests/unit is the fast tier (`make check`): plain Python only, no moto, no npm, no sam build.

A test that needs moto's AWS belongs in tests/moto, one that needs the build tools in tests/build, one of the
local stack itself in tests/devstack. Asking for the moto fixtures here fails at once, saying so.
"""

from __future__ import annotations

import pytest

WHERE = "tests/unit is the pure tier (make check, no moto): put a test on moto in tests/moto"


@pytest.fixture(scope="session")
def moto() -> None:
    pytest.fail(WHERE, pytrace=False)


@pytest.fixture
def aws() -> None:
    pytest.fail(WHERE, pytrace=False)
