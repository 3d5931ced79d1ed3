"""The Lambda runtime's Python: its version (template.yaml's Runtime; a test checks they agree) and where the
interpreter of that version is on this machine (tools/find-python: on the PATH, else pyenv's)."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

PYTHON_VERSION = "3.13"
RUNTIME = f"python{PYTHON_VERSION}"
FIND_PYTHON = Path(__file__).resolve().parents[1] / "tools" / "find-python"


class PythonNotFoundError(RuntimeError):
    """No interpreter of the asked version here; the message is one line saying what to install."""


@functools.cache
def find_python(version: str = PYTHON_VERSION) -> str:
    """The path of the real interpreter (not a pyenv shim: valgrind and sam build need the binary)."""
    proc = subprocess.run([str(FIND_PYTHON), version], capture_output=True, text=True, check=False, timeout=60)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise PythonNotFoundError(proc.stderr.strip() or f"no Python {version} found")
    return proc.stdout.strip()
