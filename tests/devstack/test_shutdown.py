from __future__ import annotations

import os
import signal
import socket
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
        # No budget of our own: it exits once its workers have (the suite's pytest timeout bounds a hang).
        assert proc.wait() == 0
        assert not [c for c in children if _alive(c)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _workers_of(aws_endpoint: str) -> list[int]:
    """The live processes given this stack's AWS endpoint: its workers (they run in sessions of their own)."""
    mark = f"AWS_ENDPOINT_URL={aws_endpoint}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if mark in environ and _alive(int(entry.name)):
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_run_stopped_while_starting_stops_at_once_without_getting_ready(tmp_path: Path, signum: int) -> None:
    root = Path(__file__).resolve().parents[2]
    aws_port = _free_port()
    command = ["devstack", "run", "--port", "0", "--aws-port", str(aws_port), "--template", str(FIXTURE_TEMPLATE)]
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", *command],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    endpoint = f"http://127.0.0.1:{aws_port}"
    try:
        while not _workers_of(endpoint):  # the start-up is under way: the first worker is running
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.05)
        proc.send_signal(signum)
        output, _ = proc.communicate()
        assert proc.returncode == 0, output
        assert "ready:" not in output, output
        assert f"{signal.Signals(signum).name} before the stack was ready" in output
        assert _workers_of(endpoint) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
