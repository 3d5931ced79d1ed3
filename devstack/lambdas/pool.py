"""Warm worker processes, one pool per function (see ``devstack.lambdas.worker`` for the protocol)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devstack.hooks import FaultHooks
from devstack.lambdas.process import FunctionLogs, Worker, WorkerDiedError
from devstack.template import REGION, FunctionModel


@dataclass
class InvokeResult:
    ok: bool
    result: Any
    error: dict[str, Any] | None
    duration_ms: float
    request_id: str

    @property
    def error_message(self) -> str:
        if not self.error:
            return ""
        return f"{self.error.get('errorType', 'Error')}: {self.error.get('errorMessage', '')}"


def worker_env(fn: FunctionModel, aws_endpoint: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Exactly the template's environment plus what the Lambda runtime and the local stack provide."""
    env = dict(fn.env)
    env.update(
        {
            "AWS_ENDPOINT_URL": aws_endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_LAMBDA_FUNCTION_NAME": fn.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(fn.timeout),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{uuid.uuid4().hex}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.runtime}",
            "LAMBDA_TASK_ROOT": str(fn.code_uri),
            "_HANDLER": fn.handler,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONPATH": os.pathsep.join([str(fn.code_uri), *(str(p) for p in fn.layers)]),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "TZ": ":UTC",
            "LANG": "C.UTF-8",
        }
    )
    env.update(extra or {})
    return env


class FunctionPool:
    """Warm workers of one function: starts with one, grows to ``max_concurrency`` when all are busy."""

    def __init__(
        self,
        fn: FunctionModel,
        env: dict[str, str],
        logs: FunctionLogs,
        max_concurrency: int = 4,
        notice: Callable[[str], None] = print,
    ) -> None:
        self.fn = fn
        self.env = env
        self.logs = logs
        self.max_concurrency = max(1, max_concurrency)
        self.notice = notice
        self._cond = threading.Condition()
        self._idle: list[Worker] = []
        self._all: list[Worker] = []
        self._starting = 0
        self._generation = 0
        self._closed = False
        self.in_flight = 0
        self.cold_starts = 0
        self.restarts = 0
        self.hooks: FaultHooks | None = None  # may kill a worker in the middle of an invocation

    @property
    def init_timeout(self) -> float:
        return max(30.0, float(self.fn.timeout))

    def start(self) -> None:
        """Start the first warm worker (a cold start at stack start, not at the first request)."""
        w = self._spawn(self._generation)
        with self._cond:
            self._all.append(w)
            self._idle.append(w)
            self._cond.notify()

    def _spawn(self, generation: int) -> Worker:
        w = Worker(self.fn, self.env, self.logs, generation)
        try:
            w.wait_ready(self.init_timeout)
        except (TimeoutError, WorkerDiedError) as exc:
            w.kill()
            raise WorkerDiedError(f"{self.fn.logical_id}: worker failed to start: {exc}") from exc
        self.cold_starts += 1
        self.logs.write(self.fn.logical_id, f"INIT_REPORT pid={w.pid} Init Duration: {w.init_ms} ms")
        if w.init_error:
            self.notice(f"{self.fn.logical_id}: init error {w.init_error.get('errorMessage')}")
        return w

    def _acquire(self) -> Worker:
        with self._cond:
            while True:
                if self._closed:
                    raise WorkerDiedError("stack is stopping")
                while self._idle:
                    w = self._idle.pop()
                    if w.alive() and w.generation == self._generation:
                        return w
                    if not w.alive():
                        self.restarts += 1
                        self.notice(
                            f"{self.fn.logical_id}: worker pid {w.pid} died (exit {w.proc.returncode}); replacing"
                        )
                    self._discard(w)
                if len(self._all) + self._starting < self.max_concurrency:
                    self._starting += 1
                    generation = self._generation
                    break
                self._cond.wait()
        try:
            w = self._spawn(generation)
        finally:
            with self._cond:
                self._starting -= 1
                self._cond.notify()
        with self._cond:
            self._all.append(w)
        return w

    def _discard(self, w: Worker) -> None:
        if w in self._all:
            self._all.remove(w)
        threading.Thread(target=w.stop, daemon=True).start()

    def _release(self, w: Worker) -> None:
        with self._cond:
            if self._closed or not w.alive() or w.generation != self._generation:
                self._discard(w)
            else:
                self._idle.append(w)
            self._cond.notify()

    def invoke(self, event: Any, request_id: str | None = None) -> InvokeResult:
        rid = request_id or str(uuid.uuid4())
        lid = self.fn.logical_id
        with self._cond:
            self.in_flight += 1
        started = time.monotonic()
        try:
            try:
                w = self._acquire()
            except WorkerDiedError as exc:
                return InvokeResult(
                    False,
                    None,
                    {"errorType": "Runtime.Unavailable", "errorMessage": str(exc)},
                    (time.monotonic() - started) * 1000,
                    rid,
                )
            self.logs.write(lid, f"START RequestId: {rid} Version: $LATEST")
            t0 = time.monotonic()
            disarm = self.hooks.arm_kill(lid, w.sigkill) if self.hooks is not None else None
            try:
                msg = w.invoke(event, float(self.fn.timeout), rid)
                res = InvokeResult(bool(msg.get("ok")), msg.get("result"), msg.get("error"), 0.0, rid)
            except TimeoutError:
                w.kill()
                self.restarts += 1
                err = {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"Task timed out after {self.fn.timeout:.2f} seconds",
                }
                self.logs.write(lid, f"{rid} {err['errorMessage']}")
                self.notice(f"{lid}: worker pid {w.pid} timed out; restarting")
                res = InvokeResult(False, None, err, 0.0, rid)
            except WorkerDiedError as exc:
                self.restarts += 1
                err = {"errorType": "Runtime.ExitError", "errorMessage": f"{exc}"}
                self.logs.write(lid, f"{rid} {err['errorMessage']}")
                self.notice(f"{lid}: worker pid {w.pid} crashed ({exc}); restarting")
                res = InvokeResult(False, None, err, 0.0, rid)
            res.duration_ms = (time.monotonic() - t0) * 1000
            if disarm is not None:
                disarm()
            if self.hooks is not None and res.ok:
                self.hooks.observed(lid, res.duration_ms / 1000)
            self.logs.write(lid, f"END RequestId: {rid}")
            self.logs.write(
                lid, f"REPORT RequestId: {rid} Duration: {res.duration_ms:.2f} ms Memory Size: {self.fn.memory} MB"
            )
            self._release(w)
            if not w.alive() and not self._closed:
                self._replace_async()
            return res
        finally:
            with self._cond:
                self.in_flight -= 1
                self._cond.notify_all()

    def _replace_async(self) -> None:
        """Keep one warm worker after a crash or timeout."""

        def run() -> None:
            with self._cond:
                if self._closed or self._all or self._starting:
                    return
                self._starting += 1
                generation = self._generation
            try:
                w = self._spawn(generation)
            except WorkerDiedError as exc:
                self.notice(str(exc))
                return
            finally:
                with self._cond:
                    self._starting -= 1
            with self._cond:
                self._all.append(w)
                self._idle.append(w)
                self._cond.notify()

        threading.Thread(target=run, daemon=True).start()

    def restart(self, reason: str) -> None:
        """New generation: idle workers are stopped now, busy ones when they finish; one warm one started."""
        with self._cond:
            self._generation += 1
            idle, self._idle = self._idle, []
            for w in idle:
                self._discard(w)
        self.notice(f"{self.fn.logical_id}: restarting workers ({reason})")
        self._replace_async()

    def reap(self) -> None:
        """Replace idle workers that died outside an invocation (killed, OOM)."""
        with self._cond:
            dead = [w for w in self._idle if not w.alive()]
            for w in dead:
                self._idle.remove(w)
                self._discard(w)
                self.restarts += 1
        for w in dead:
            self.notice(f"{self.fn.logical_id}: worker pid {w.pid} died (exit {w.proc.returncode}); restarting")
        if dead:
            self._replace_async()

    def pids(self) -> list[int]:
        with self._cond:
            return [w.pid for w in self._all if w.alive()]

    def stop(self) -> None:
        with self._cond:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
            self._idle.clear()
            self._cond.notify_all()
        threads = [threading.Thread(target=w.stop, args=(1.0,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
