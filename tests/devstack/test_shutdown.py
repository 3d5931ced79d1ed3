from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from devstack import LocalStack, StackOptions

from .conftest import FIXTURE_TEMPLATE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split()[2] != "Z"


def test_clean_shutdown_leaves_no_worker(tmp_path: Path) -> None:
    s = LocalStack(FIXTURE_TEMPLATE, StackOptions(logs_dir=tmp_path, watch=True, echo=lambda line: None))
    s.start()
    try:
        pids = s.inspect.worker_pids()
        assert len(pids) == len(s.model.functions)
        assert httpx.get(f"{s.base_url}/public", timeout=30).status_code == 200
    finally:
        s.stop()
    assert not [p for p in pids if _alive(p)]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{s.base_url}/public", timeout=5)


def test_cli_run_sigterm_stops_everything(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "devstack", "run", "--port", "0", "--template", str(FIXTURE_TEMPLATE)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("ready: "):
                break
        assert lines and lines[-1].startswith("ready: http://127.0.0.1:"), "".join(lines)
        assert len(lines) == 1, "the ready line comes first"
        base = lines[-1].split(" ", 1)[1].strip()
        for line in proc.stdout:  # a few lines a user acts on, then where the list of what is not emulated is
            lines.append(line)
            if "not emulated" in line:
                break
        assert len(lines) <= 8 and f"docs:   {base}/docs" in "".join(lines), "".join(lines)
        count, _, where = lines[-1].strip().partition(" template features are not emulated locally: ")
        report = FIXTURE_TEMPLATE.parent / ".devstack" / "not-emulated.txt"
        assert where == f"{report} (or run with --verbose)"
        assert int(count) == sum(1 for line in report.read_text().splitlines() if line.startswith("  - ")) > 0
        assert httpx.get(f"{base}/public", timeout=30).status_code == 200
        children = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        assert children
        proc.terminate()
        assert proc.wait(timeout=30) == 0
        deadline = time.monotonic() + 10
        while any(_alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [c for c in children if _alive(c)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
