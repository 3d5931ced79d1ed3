"""The local stack engine: moto + warm workers + pollers + HTTP front, all derived from template.yaml."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import uvicorn

from devstack.aws import FaultInjector, MotoServer, make_client
from devstack.events.pollers import SqsPoller, Wiring
from devstack.events.schedules import SchedulePoller, schedule_pollers
from devstack.events.streams import StreamPoller
from devstack.gateway.app import Gateway
from devstack.hooks import FaultHooks
from devstack.inspection import StackInspection
from devstack.lambdas.pool import FunctionPool, InvokeResult, worker_env
from devstack.lambdas.process import FunctionLogs
from devstack.lambdas.watcher import watch_code
from devstack.resources import create_resources, create_state_machines, redrive_messages
from devstack.template import REGION, ApiModel, StackModel, load_stack_model
from devstack.template.builders.base import group_by_feature
from devstack.tokens import jwt_secret, mint_token, translate_legacy_authorization

if TYPE_CHECKING:
    from devstack.docker.samlocal import DockerRuntime


class Invocation(NamedTuple):
    function: str
    trigger: str
    duration_ms: float
    outcome: str


@dataclass(frozen=True)
class StackOptions:
    """How a :class:`LocalStack` runs its template; the defaults are ``make run``'s.

    ``port`` and ``aws_port``: the HTTP front's and the AWS services' (0: a free one). ``env`` overrides the
    process environment for the engine's settings (``JWT_SECRET``, ``DELIVERY_DELAY_SECONDS``,
    ``RECONCILE_INTERVAL_SECONDS``);
    ``function_env`` adds variables to functions' environments (key = logical id, or ``"*"`` for every
    function). ``logs_dir``: the functions' logs (None: ``.devstack/logs`` beside the template); ``watch``:
    restart a function's workers when its code changes; ``echo``: where the per-invocation lines go (None:
    stdout); ``endpoint_file``: where the running stack's endpoints are written; ``report_path``: where the
    full list of what is not emulated is written (None: nowhere).

    ``docker``: run the functions in the Lambda runtime through SAM CLI instead of worker processes
    (``make run-docker``, :mod:`devstack.docker.samlocal`); the AWS services then also listen on the docker
    bridge's address, where the containers reach them.
    """

    port: int = 0
    parameter_overrides: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    function_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    max_concurrency: int = 4
    logs_dir: str | Path | None = None
    watch: bool = True
    echo: Callable[[str], None] | None = None
    endpoint_file: str | Path | None = None
    aws_port: int = 0
    report_path: str | Path | None = None
    docker: DockerRuntime | None = None


class LocalStack:
    """Run the whole template locally. Use as a context manager, or call :meth:`start`/:meth:`stop`."""

    def __init__(self, template: str | Path = "template.yaml", options: StackOptions | None = None) -> None:
        o = options or StackOptions()
        self.template_path = Path(template).resolve()
        self.settings: dict[str, str] = {**os.environ, **o.env}
        self.port = o.port
        self.parameter_overrides = {k: str(v) for k, v in o.parameter_overrides.items()}
        self.function_env = {k: dict(v) for k, v in o.function_env.items()}
        self.max_concurrency = o.max_concurrency
        self.logs_dir = Path(o.logs_dir) if o.logs_dir else self.template_path.parent / ".devstack" / "logs"
        self.watch = o.watch
        self.endpoint_file = Path(o.endpoint_file) if o.endpoint_file else None
        self.aws_port = o.aws_port  # 0: a free port
        self.report_path = Path(o.report_path) if o.report_path else None
        self.startup_seconds = 0.0
        self.docker = o.docker
        self._echo = o.echo or (lambda line: print(line, flush=True))
        self.invocations: list[Invocation] = []
        self._inv_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.pools: dict[str, FunctionPool] = {}
        self.sqs_pollers: list[SqsPoller] = []
        self.stream_pollers: list[StreamPoller] = []
        self.schedule_pollers: list[SchedulePoller] = []
        self.moto: MotoServer | None = None
        self.gateway: Gateway | None = None
        self._server: uvicorn.Server | None = None
        self._logs: FunctionLogs | None = None
        self._clients: dict[str, Any] = {}
        self._started = False
        self.activity = 0  # bumped on every invocation; inspect.wait_idle checks it did not move
        self.inspect = StackInspection(self)
        self.hooks: FaultHooks | None = None  # set by attach_hooks
        self.model: StackModel

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def jwt_secret(self) -> str:
        return jwt_secret(self.settings)

    def _effective_overrides(self, tpl_params: Mapping[str, Any]) -> dict[str, str]:
        overrides = dict(self.parameter_overrides)
        delay = self.settings.get("DELIVERY_DELAY_SECONDS")
        if delay and "DeliveryDelaySeconds" in tpl_params and "DeliveryDelaySeconds" not in overrides:
            overrides["DeliveryDelaySeconds"] = delay
        return overrides

    def start(self) -> LocalStack:
        if self._started:
            return self
        self._started = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from devstack.template import load_template

        t0 = time.monotonic()
        params = load_template(self.template_path).get("Parameters") or {}
        moto = self._start_aws(self._effective_overrides(params))
        self._start_functions(moto)
        self._start_pollers(moto.url)
        if self.model.api is not None:
            self._start_front(self.model.api)
        if self.docker is not None:
            self.docker.warm(self.model, self.base_url, self.token("devstack-warmup"))
        if self.watch and self.docker is None:
            self._start_thread(lambda: watch_code(self.pools, self._stop), "watcher")
        if self.endpoint_file:
            self._write_endpoint_file()
        self._report(time.monotonic() - t0)

    def _start_aws(self, overrides: dict[str, str]) -> MotoServer:
        """moto, the template's resources in it, and the model read again with their physical ids."""
        self.moto = moto = MotoServer(self.aws_port, also_listen=[self.docker.bridge] if self.docker else [])
        moto.start()
        endpoint = moto.url
        first = load_stack_model(self.template_path, overrides, endpoint=endpoint)
        physical = create_resources(first, endpoint, self.jwt_secret)
        self.model = load_stack_model(self.template_path, overrides, endpoint=endpoint, physical_overrides=physical)
        create_state_machines(self.model, endpoint)
        return moto

    def _start_functions(self, moto: MotoServer) -> None:
        """The functions' runtime: SAM CLI's containers, or one warm worker pool per function (started in parallel)."""
        self._logs = FunctionLogs(self.logs_dir)
        if self.docker is not None:
            self.docker.start(self.model, moto.port)
            return
        for lid, fn in self.model.functions.items():
            extra: dict[str, str] = dict(self.function_env.get("*", {}))
            extra.update(self.function_env.get(lid, {}))
            self.pools[lid] = FunctionPool(
                fn, worker_env(fn, moto.url, extra), self._logs, self.max_concurrency, notice=self._notice
            )
        with ThreadPoolExecutor(max_workers=max(1, len(self.pools))) as ex:
            futures = [ex.submit(p.start) for p in self.pools.values()]
            for f in futures:
                f.result()

    def _start_pollers(self, endpoint: str) -> None:
        """One poller per enabled stream, queue and schedule event source; returns once the streams are read."""
        wiring = Wiring(endpoint, self._deliver, self._record, self._stop)
        for fn in self.model.functions.values():
            for st in fn.stream_events:
                if st.enabled:
                    self.stream_pollers.append(StreamPoller(fn, st, self.model.tables[st.table], wiring))
            for sq in fn.sqs_events:
                if sq.enabled:
                    self.sqs_pollers.append(SqsPoller(fn, sq, self.model.queues[sq.queue], wiring))
        self.schedule_pollers = schedule_pollers(self.model, wiring, self.settings)
        for t in [*self.stream_pollers, *self.sqs_pollers, *self.schedule_pollers]:
            t.start()
        for sp in self.stream_pollers:
            sp.ready.wait(10)

    def _start_front(self, api: ApiModel) -> None:
        """The HTTP front: the gateway (behind SAM local's front under docker), served on ``self.port``."""
        secret = self.jwt_secret
        self.gateway = Gateway(
            api,
            self.invoke,
            self._record,
            # The original system's fixed header becomes a real token for user demo: only here.
            translate_authorization=lambda header: translate_legacy_authorization(header, secret),
        )
        app: Any = self.gateway
        if self.docker is not None:
            app = self.docker.front(api, self.gateway, self._record, self.gateway.translate_authorization)
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted connections when the
        # listening socket says it is TCP; without it every small response waits ~40 ms for
        # the client's delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=2,
            # Longer than clients keep idle connections (uvicorn's 5 s default races a reused
            # keep-alive connection under load: one soak create saw a reset and had to retry).
            timeout_keep_alive=75,
        )
        self._server = uvicorn.Server(config)
        server = self._server
        th = self._start_thread(lambda: server.run(sockets=[sock]), "gateway")
        deadline = time.monotonic() + 10
        while not server.started and th.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            raise RuntimeError("HTTP front failed to start")

    def _start_thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        """A daemon thread of the stack, joined by :meth:`stop`."""
        th = threading.Thread(target=target, daemon=True, name=name)
        th.start()
        self._threads.append(th)
        return th

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.should_exit = True
        if self.pools:  # every worker gets its grace period at the same time, not one pool after another
            with ThreadPoolExecutor(max_workers=len(self.pools)) as ex:
                list(ex.map(FunctionPool.stop, self.pools.values()))
        for t in [*self._threads, *self.sqs_pollers, *self.stream_pollers, *self.schedule_pollers]:
            t.join(timeout=5)
        if self.docker is not None:
            self.docker.stop()
        if self.gateway is not None:
            self.gateway.close()
        if self.moto is not None:
            with contextlib.suppress(Exception):
                self.moto.stop()
            self.moto = None
        if self._logs is not None:
            self._logs.close()
        if self.endpoint_file and self.endpoint_file.exists():
            with contextlib.suppress(OSError):
                data = json.loads(self.endpoint_file.read_text())
                if data.get("pid") == os.getpid():
                    self.endpoint_file.unlink()

    def attach_hooks(self, hooks: FaultHooks) -> None:
        """Let ``hooks`` fail AWS requests, kill workers and refuse deliveries (a started stack)."""
        self.faults.hooks = hooks
        for pool in self.pools.values():
            pool.hooks = hooks
        self.hooks = hooks

    # ------------------------------------------------------------------ invocations
    def invoke(self, logical_id: str, event: Any) -> InvokeResult:
        """Invoke a function's warm worker directly (no logging of an invocation line)."""
        self.activity += 1
        if self.docker is not None:
            return self.docker.invoke(logical_id, event)
        return self.pools[logical_id].invoke(event)

    def _deliver(self, logical_id: str, event: Any) -> InvokeResult:
        """An event source mapping's invocation: under chaos, Lambda may refuse it before the function runs."""
        refused = self.hooks.refuse_delivery(logical_id) if self.hooks is not None else None
        if refused is not None:
            return InvokeResult(False, None, refused, 0.0, str(uuid.uuid4()))
        return self.invoke(logical_id, event)

    def _record(self, function: str, trigger: str, duration_ms: float, outcome: str, correlation_id: str) -> None:
        with self._inv_lock:
            self.invocations.append(Invocation(function, trigger, duration_ms, outcome))
        stamp = time.strftime("%H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d}"
        self._echo(f"{stamp}  {function:<26} {trigger:<40} {duration_ms:8.1f} ms  {outcome}  {correlation_id}".rstrip())

    def _notice(self, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self._echo(f"{stamp}  [devstack] {message}")

    def _report(self, seconds: float) -> None:
        self.startup_seconds = seconds
        if self.report_path is not None:
            self.report_path.parent.mkdir(parents=True, exist_ok=True)
            self.report_path.write_text(
                "Not emulated by the local stack (by feature, then the template's names):\n"
                + "".join(f"{line}\n" for line in self.not_emulated())
            )

    def summary(self) -> str:
        """What runs: "13 functions, 3 tables, ..."."""
        m = self.model
        return (
            f"{len(m.functions)} functions, {len(m.tables)} tables, {len(m.queues)} queues, {len(m.topics)} topics, "
            f"{len(m.state_machines)} state machines, {len(m.routes)} routes"
        )

    def not_emulated(self) -> list[str]:
        """The template's features the local stack does not emulate, one line per feature with its resources."""
        lines = [
            f"  - {feature}: {', '.join(names)}" if names else f"  - {feature}"
            for feature, names in group_by_feature(self.model.unsupported).items()
        ]
        return lines + [f"  - skipped: {s}" for s in self.model.skipped]

    # ------------------------------------------------------------------ helpers for tests and the CLI
    @property
    def base_url(self) -> str:
        stage = self.model.api.stage_name if self.model.api else ""
        return f"http://127.0.0.1:{self.port}/{stage}"

    @property
    def aws_endpoint(self) -> str:
        assert self.moto is not None, "stack not started"
        return self.moto.url

    @property
    def faults(self) -> FaultInjector:
        assert self.moto is not None, "stack not started"
        return self.moto.faults

    def client(self, service: str) -> Any:
        """A boto3 client on the local AWS services (cached per service)."""
        if service not in self._clients:
            self._clients[service] = make_client(service, self.aws_endpoint)
        return self._clients[service]

    def physical_id(self, logical_id: str) -> str:
        return self.model.physical_id(logical_id)

    def token(self, user: str, ttl: int = 3600, **claims: Any) -> str:
        return mint_token(user, self.jwt_secret, ttl, **claims)

    def function_logs(self, logical_id: str) -> list[str]:
        assert self._logs is not None
        return self._logs.lines(logical_id)

    def redrive(self, dlq: str) -> int:
        """Move the messages of a DLQ (logical id or URL) back to its source queue; returns how many."""
        dlq_q = next((q for q in self.model.queues.values() if dlq in (q.logical_id, q.url, q.arn, q.name)), None)
        if dlq_q is None:
            raise KeyError(dlq)
        source = next(
            (q for q in self.model.queues.values() if q.redrive and q.redrive.dead_letter_queue == dlq_q.logical_id),
            None,
        )
        if source is None:
            raise ValueError(f"{dlq_q.logical_id} is no queue's dead-letter queue")
        return redrive_messages(make_client("sqs", self.aws_endpoint, internal=True), dlq_q.url, source.url)

    def _write_endpoint_file(self) -> None:
        assert self.endpoint_file is not None
        self.endpoint_file.parent.mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = {
            "pid": os.getpid(),
            "aws_endpoint": self.aws_endpoint,
            "region": REGION,
            "base_url": self.base_url,
            "template": str(self.template_path),
            "queues": {q.logical_id: q.url for q in self.model.queues.values()},
            "tables": {lid: t.name for lid, t in self.model.tables.items()},
            "redrive": {q.redrive.dead_letter_queue: q.logical_id for q in self.model.queues.values() if q.redrive},
        }
        if self.docker is not None:
            data["docker"] = self.docker.describe()
        self.endpoint_file.write_text(json.dumps(data, indent=2))
