"""In-process moto server, wire-level fault injection, and creation of the template's resources."""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import boto3
import requests
from botocore.config import Config
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from devstack.hooks import TIMEOUT, AwsFault, FaultHooks
from devstack.stepfunctions import gate_wait_states, use_aws_reference_paths
from devstack.template import REGION

INTERNAL_UA = "devstack-internal"


_TARGET_PREFIXES = {
    "dynamodb_": "dynamodb",
    "dynamodbstreams_": "dynamodbstreams",
    "amazonsqs": "sqs",
    "awsstepfunctions": "stepfunctions",
    "secretsmanager": "secretsmanager",
    "amazonsns": "sns",
}


_SERVICE_ALIASES = {"states": "stepfunctions", "streams.dynamodb": "dynamodbstreams"}


_JSON_ERROR_PREFIX = {
    "dynamodb": "com.amazonaws.dynamodb.v20120810#",
    "dynamodbstreams": "com.amazonaws.dynamodb.v20120810#",
}


def _norm_service(name: str) -> str:
    name = name.lower()
    return _SERVICE_ALIASES.get(name, name)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Fault:
    """An AWS error moto answers for ``service``/``operation`` (None: every operation), ``times`` times or for
    ``seconds`` after it is injected (neither: until cleared). Requests of the stack's own pollers are spared
    unless ``include_internal``."""

    service: str
    operation: str | None = None
    status: int = 500
    code: str = "InternalError"
    message: str = "Injected fault"
    times: int | None = None
    seconds: float | None = None
    include_internal: bool = False
    hits: int = field(default=0, init=False)
    remaining: int | None = field(default=None, init=False)
    until: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.service = _norm_service(self.service)
        self.remaining = self.times

    def matches(self, service: str, operation: str, internal: bool) -> bool:
        if internal and not self.include_internal:
            return False
        if self.until is not None and time.monotonic() > self.until:
            return False
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.service == service and (self.operation is None or self.operation.lower() == operation.lower())


class FaultInjector:
    """Make moto answer chosen operations with real-looking AWS errors."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.hooks: FaultHooks | None = None  # rate-based faults (devstack.hooks), after the chosen ones

    def inject(self, fault: Fault) -> Fault:
        """Answer the requests ``fault`` names with its error from now on; returns it (its ``hits`` count)."""
        if fault.seconds is not None:
            fault.until = time.monotonic() + fault.seconds
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, service: str, operation: str, internal: bool, user_agent: str = "") -> Fault | AwsFault | None:
        with self._lock:
            for f in self._faults:
                if f.matches(service, operation, internal):
                    f.hits += 1
                    if f.remaining is not None:
                        f.remaining -= 1
                    return f
        hooks = self.hooks
        return hooks.aws_fault(service, operation, user_agent, internal) if hooks is not None else None


_PARTIQL_OPERATIONS = {
    "ExecuteStatement": "",
    "BatchExecuteStatement": "Statements",
    "ExecuteTransaction": "TransactStatements",
}


def _moto_set_clauses(text: str) -> str:
    """``UPDATE t SET a = ? SET b = ? WHERE ...`` (DynamoDB's form) -> ``UPDATE t SET a = ?, b = ? WHERE ...``."""
    parts = re.split(r"(\s+SET\s+)", text, maxsplit=1, flags=re.IGNORECASE)
    if len(parts) != 3:
        return text
    head, first_set, rest = parts
    sets, where, condition = [*re.split(r"(\s+WHERE\s+)", rest, maxsplit=1, flags=re.IGNORECASE), "", ""][:3]
    return head + first_set + re.sub(r"\s+SET\s+", ", ", sets, flags=re.IGNORECASE) + where + condition


def _partiql_for_moto(operation: str, body: bytes) -> bytes:
    """DynamoDB writes an UPDATE of several attributes as repeated SET clauses; moto's PartiQL parser reads
    only commas. The same statements, in the form moto reads."""
    try:
        request = json.loads(body)
    except ValueError:
        return body
    key = _PARTIQL_OPERATIONS[operation]
    for statement in request.get(key) or [] if key else [request]:
        if isinstance(statement, dict) and isinstance(statement.get("Statement"), str):
            statement["Statement"] = _moto_set_clauses(statement["Statement"])
    return json.dumps(request).encode()


def _identify(environ: dict[str, Any], body: bytes) -> tuple[str, str]:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scope_service = ""
    if "Credential=" in auth:
        parts = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(parts) >= 4:
            scope_service = parts[3]
    if target:
        prefix, _, op = target.rpartition(".")
        low = prefix.lower()
        service = next((s for p, s in _TARGET_PREFIXES.items() if low.startswith(p)), scope_service or low)
        return _norm_service(service), op
    op = ""
    ctype = environ.get("CONTENT_TYPE", "")
    if "x-www-form-urlencoded" in ctype and body:
        op = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    if not op:
        op = parse_qs(environ.get("QUERY_STRING", "")).get("Action", [""])[0]
    if not op:
        op = f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}"
    return _norm_service(scope_service or "unknown"), op


class AwsMiddleware:
    """WSGI wrapper around moto's app: counts requests per (service, operation), injects faults, and
    makes DynamoDB requests atomic.

    moto checks a ConditionExpression and then applies the update in place, with nothing held in
    between: two racing conditional writes to one item can both succeed (two "winners" of
    pending -> declined, say), and a read can see half an update. DynamoDB itself applies each
    request to an item atomically, so here DynamoDB requests run one at a time.
    """

    def __init__(self, app: Callable[..., Any], faults: FaultInjector) -> None:
        self.app = app
        self.faults = faults
        self.requests: collections.Counter[tuple[str, str]] = collections.Counter()
        self._lock = threading.Lock()
        self._dynamodb = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        service, op = _identify(environ, body)
        if service == "dynamodb" and op in _PARTIQL_OPERATIONS:
            body = _partiql_for_moto(op, body)
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        agent = environ.get("HTTP_USER_AGENT", "")
        internal = INTERNAL_UA in agent
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return self.app(environ, start_response)
        if not internal:
            with self._lock:
                self.requests[(service, op)] += 1
        fault = self.faults.take(service, op, internal, agent)
        if fault is None:
            return self._apply(environ, start_response, service)
        if isinstance(fault, AwsFault) and fault.kind == TIMEOUT:
            return self._drop(environ, start_response, service, fault)
        rid = str(uuid.uuid4())
        if environ.get("HTTP_X_AMZ_TARGET"):
            ctype = environ.get("CONTENT_TYPE") or "application/x-amz-json-1.0"
            payload = json.dumps(
                {"__type": _JSON_ERROR_PREFIX.get(service, "") + fault.code, "message": fault.message}
            ).encode()
            headers = [
                ("Content-Type", ctype),
                ("x-amzn-RequestId", rid),
                ("x-amzn-query-error", f"{fault.code};{'Sender' if fault.status < 500 else 'Receiver'}"),
            ]
        else:
            kind = "Sender" if fault.status < 500 else "Receiver"
            payload = (
                f'<ErrorResponse xmlns="http://{service}.amazonaws.com/doc/"><Error><Type>{kind}</Type>'
                f"<Code>{fault.code}</Code><Message>{fault.message}</Message></Error>"
                f"<RequestId>{rid}</RequestId></ErrorResponse>"
            ).encode()
            headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)]
        headers.append(("Content-Length", str(len(payload))))
        start_response(f"{fault.status} Injected", headers)
        return [payload]

    def _apply(self, environ: dict[str, Any], start_response: Callable[..., Any], service: str) -> Iterable[bytes]:
        if service != "dynamodb":
            return self.app(environ, start_response)
        with self._dynamodb:
            # moto builds the whole response inside this call; materialise it under the lock anyway.
            return list(self.app(environ, start_response))

    def _drop(
        self, environ: dict[str, Any], start_response: Callable[..., Any], service: str, fault: AwsFault
    ) -> Iterable[bytes]:
        """A request that times out: it hangs, then the connection closes with no answer (after moto
        applied it, when ``fault.applied``: the caller cannot tell which)."""
        if fault.applied:
            list(self._apply(environ, lambda *args: None, service))
        time.sleep(fault.hold)
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        start_response("504 Dropped", [("Content-Length", "0"), ("Connection", "close")])
        return []

    def counts(self) -> collections.Counter[tuple[str, str]]:
        with self._lock:
            return collections.Counter(self.requests)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()


class _QuietHandler(MotoRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class MotoServer(ThreadedMotoServer):
    """moto in server mode in this process, behind :class:`AwsMiddleware`."""

    def __init__(self, port: int = 0, also_listen: list[str] | None = None) -> None:
        self.port = port or free_port()
        # Further addresses on the same port (the docker bridge's, for make run-docker); never 0.0.0.0.
        self.also_listen = list(also_listen or [])
        self._extra_servers: list[Any] = []
        # Step Functions service integrations call back into moto on MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        use_aws_reference_paths()
        gate_wait_states()
        super().__init__(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.faults = FaultInjector()
        self.middleware: AwsMiddleware | None = None

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        self.middleware = AwsMiddleware(app, self.faults)
        self._server = make_server(self._ip_address, self._port, self.middleware, True, request_handler=_QuietHandler)
        for address in self.also_listen:
            extra = make_server(address, self._port, self.middleware, True, request_handler=_QuietHandler)
            self._extra_servers.append(extra)
            threading.Thread(target=extra.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        for extra in self._extra_servers:
            extra.shutdown()
            extra.server_close()
        self._extra_servers.clear()
        super().stop()

    def start(self) -> None:
        super().start()
        # moto's backends are global to the process: start from a clean slate (one stack at a time).
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()
        resp = requests.post(
            f"{self.url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=10
        )
        resp.raise_for_status()


def make_client(service: str, endpoint: str, internal: bool = False) -> Any:
    cfg = Config(
        region_name=REGION,
        retries={"max_attempts": 2 if internal else 3, "mode": "standard"},
        user_agent_extra=INTERNAL_UA if internal else None,
        read_timeout=30,
        max_pool_connections=50,
    )
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto
        config=cfg,
    )
