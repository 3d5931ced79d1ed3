"""``make run-docker`` as a user runs it: the command comes up (on a clean machine this first run installs
Docker and builds the base image), answers through the Lambda runtime, and Ctrl-C leaves no container and
no SAM CLI process behind.

First in the suite (file order): it runs before the session's stack exists, so the first run is its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from devstack.docker.sam_cli import lambda_containers
from devstack.docker.samlocal import CONTAINER_HOST

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _descendants(pid: int) -> set[int]:
    """The run's processes. A Docker engine the first run started (its own session, a child of the run
    until the run ends) is the machine's service, meant to outlive the run: it and its children are left out."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = task / "children"
            if children.exists():
                for child in map(int, children.read_text().split()):
                    if child not in found and _comm(child) != "dockerd":
                        found.add(child)
                        todo.append(child)
    return found


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_make_run_docker_comes_up_answers_and_ctrl_c_leaves_nothing_behind() -> None:
    aws_port, port = _free_port(), _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AWS_PORT": str(aws_port), "PORT": str(port)}
    # The command line of `make run-docker` (Makefile), with this run's ports.
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "devstack", "run", "--docker", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    marker = f"AWS_ENDPOINT_URL=http://{CONTAINER_HOST}:{aws_port}"
    try:
        deadline = time.monotonic() + 1800  # a first run installs Docker and builds the base image
        while not any(line.startswith("ready: ") for line in lines):
            assert proc.poll() is None, "make run-docker exited:\n" + "".join(lines[-40:])
            assert time.monotonic() < deadline, "no ready line:\n" + "".join(lines[-40:])
            time.sleep(0.5)
        ready = next(line for line in lines if line.startswith("ready: "))
        base = ready.split(" ", 1)[1].strip()
        assert base == f"http://127.0.0.1:{port}/api", ready
        # The original fixed token is user demo; the request goes through the authorizer and a function
        # in their containers.
        answer = httpx.get(f"{base}/orders", headers={"Authorization": "thisisajwttoken"}, timeout=120)
        assert answer.status_code == 200, answer.text
        assert isinstance(answer.json()["data"], list) and "nextToken" in answer.json()
        assert httpx.get(f"{base}/orders", timeout=120).status_code == 401
        containers = lambda_containers(marker)
        assert containers, "every function should have its container before ready"
        helpers = _descendants(proc.pid)
        assert helpers

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=120) == 0, "".join(lines[-40:])
        assert lambda_containers(marker) == []
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in helpers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in helpers if _alive(p)], "processes left behind"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
