"""The Makefile as a newcomer meets it: `make help` names every target, `make token` signs for alice."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.support.sam_template import ROOT

MAKEFILE = (ROOT / "Makefile").read_text()


def make(*args: str, **env: str) -> str:
    proc = subprocess.run(  # noqa: S603 - make, on our own Makefile
        ["make", "--no-print-directory", "-C", str(ROOT), *args],  # noqa: S607 - make from the PATH
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout


def targets() -> set[str]:
    """Every rule a person can type: `name:` at the start of a line (not `NAME :=`, not a file such as
    $(VENV)/.installed), and every .PHONY name."""
    rules = set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", MAKEFILE, re.MULTILINE))
    phony = {name for line in re.findall(r"^\.PHONY:(.*)$", MAKEFILE, re.MULTILINE) for name in line.split()}
    return rules | phony


def test_help_names_every_target():
    listed = set(re.findall(r"^\s*make ([\w-]+)", make("help"), re.MULTILINE))
    assert targets() - {"help"} <= listed, f"make help leaves out {sorted(targets() - {'help'} - listed)}"
    assert listed <= targets(), f"make help lists targets that do not exist: {sorted(listed - targets())}"


def test_the_target_list_is_read_from_the_makefile():
    found = targets()
    assert {"run", "test", "token", "unit", "e2e", "integration", "test-docker", "lint", "typecheck"} <= found
    assert {"build", "clean", "redrive-events", "replay"} <= found
    assert not {"VENV", "PY", "SHELL"} & found


def _token_user(*args: str, **env: str) -> str:
    # -n: the command make would run, without running the install rules it depends on.
    (command,) = [line for line in make("-n", "token", *args, **env).splitlines() if "devstack token" in line]
    return command.split("--user", 1)[1].strip()


@pytest.mark.parametrize(
    ("args", "user"),
    [((), "alice"), (("SUB=bob",), "bob"), (("USER=carol",), "carol")],
)
def test_make_token_signs_for_alice_unless_told_otherwise_whatever_the_shells_user(args, user):
    assert _token_user(*args, USER="root") == user
