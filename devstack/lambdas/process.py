"""One warm worker process (``devstack.lambdas.worker``) and the log files the functions write to."""

from __future__ import annotations

import collections
import contextlib
import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from devstack.template import FunctionModel

WORKER_SCRIPT = Path(__file__).with_name("worker.py")


class FunctionLogs:
    """Per-function log lines: appended to ``<dir>/<LogicalId>.log`` and kept (bounded) in memory."""

    def __init__(self, directory: Path, max_lines: int = 5000) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._lines: dict[str, collections.deque[str]] = collections.defaultdict(
            lambda: collections.deque(maxlen=max_lines)
        )
        self._files: dict[str, IO[str]] = {}
        self._lock = threading.Lock()

    def write(self, logical_id: str, line: str) -> None:
        line = line.rstrip("\n")
        with self._lock:
            self._lines[logical_id].append(line)
            fh = self._files.get(logical_id)
            if fh is None:
                fh = self._files[logical_id] = open(  # noqa: SIM115 - kept open for the stack's life
                    self.directory / f"{logical_id}.log", "a", encoding="utf-8"
                )
            fh.write(line + "\n")
            fh.flush()

    def lines(self, logical_id: str) -> list[str]:
        with self._lock:
            return list(self._lines.get(logical_id, ()))

    def close(self) -> None:
        with self._lock:
            for fh in self._files.values():
                fh.close()
            self._files.clear()


class WorkerDiedError(Exception):
    pass


_EOF = object()


class Worker:
    """One warm execution environment (a child process)."""

    def __init__(self, fn: FunctionModel, env: dict[str, str], logs: FunctionLogs, generation: int) -> None:
        self.fn = fn
        self.generation = generation
        self.logs = logs
        self._responses: queue.Queue[Any] = queue.Queue()
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-u", str(WORKER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=str(fn.code_uri) if fn.code_uri.is_dir() else None,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        threading.Thread(target=self._read_stdout, daemon=True, name=f"{fn.logical_id}-out").start()
        threading.Thread(target=self._read_stderr, daemon=True, name=f"{fn.logical_id}-err").start()
        self.init_ms: int = 0
        self.init_error: dict[str, Any] | None = None

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                self._responses.put(json.loads(raw))
            except ValueError:
                self.logs.write(self.fn.logical_id, raw.decode("utf-8", "replace"))
        self._responses.put(_EOF)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.logs.write(self.fn.logical_id, raw.decode("utf-8", "replace"))

    def wait_ready(self, timeout: float) -> None:
        msg = self._get(timeout)
        self.init_ms = int(msg.get("init_ms", 0))
        self.init_error = msg.get("init_error")

    def _get(self, timeout: float) -> dict[str, Any]:
        try:
            msg = self._responses.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise TimeoutError from None
        if msg is _EOF:
            code = self.proc.wait()
            raise WorkerDiedError(f"worker exited with code {code}")
        assert isinstance(msg, dict)
        return msg

    def invoke(self, event: Any, timeout: float, request_id: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        deadline_ms = int((time.time() + timeout) * 1000)
        line = json.dumps({"id": request_id, "event": event, "deadline_ms": deadline_ms}) + "\n"
        try:
            self.proc.stdin.write(line.encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerDiedError(f"worker is gone: {exc}") from exc
        while True:
            msg = self._get(timeout)
            if msg.get("id") == request_id:
                return msg

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 2.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()

    def sigkill(self) -> bool:
        """Kill the process now, wherever it is (no wait); False if it was gone already."""
        if self.proc.poll() is not None:
            return False
        with contextlib.suppress(OSError):
            self.proc.kill()
        return True

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
