"""``make run-docker``: every function in the Lambda runtime in Docker, through SAM CLI.

The local stack keeps the AWS services (moto), the pollers and the state machine; the functions run in
containers of the Lambda python3.13 image (:mod:`devstack.docker.image`):

- the event functions (stream publishers, SQS inboxes, schedules) are invoked by the pollers through
  ``sam local start-lambda`` (the Lambda Invoke API on a local port);
- the API is ``sam local start-api`` (the TOKEN authorizer included) behind a thin front on ``PORT``
  that gives it what API Gateway has and SAM local has not: the ``/api`` stage prefix, the template's
  gateway responses for refusals (SAM answers a refused token with 502, an unknown route with 403),
  the request size limit, and the local stack's fixed legacy token as user ``demo``.

Containers reach the host's moto through the default bridge's gateway (``host.docker.internal``):
SAM CLI 1.170 creates its containers on the default bridge whatever ``--docker-network`` says.

Architecture: ``template.yaml`` deploys arm64. Here the functions must run on the host's CPU, so the
build is overridden: a copy of the template with every architecture set to the host's
(``.template.docker.yaml``, beside the template so relative paths hold) is built into
``.aws-sam/docker/build`` with ``LAMBDA_ARCHITECTURE`` set, leaving the deployable ``.aws-sam/build`` alone.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import requests

from devstack.aws import free_port
from devstack.docker.front import SamApiFront
from devstack.docker.sam_cli import (
    Build,
    Echo,
    SamProcess,
    _port_open,
    bake_layers,
    env_vars,
    is_error_payload,
    remove_containers,
    sam_build,
    sam_environment,
    sam_executable,
)
from devstack.gateway.app import Gateway
from devstack.lambdas.pool import InvokeResult
from devstack.template import REGION, ApiModel, StackModel

CONTAINER_HOST = "host.docker.internal"


class DockerRuntime:
    """The functions of a :class:`~devstack.stack.LocalStack` in the Lambda runtime, through SAM CLI."""

    def __init__(self, build: Build, bridge: str, logs_dir: Path, *, echo: Echo, serve_api: bool = True) -> None:
        self.built_template = build.template
        self.image = build.image
        self.bridge = bridge
        self.logs_dir = logs_dir
        self.echo = echo
        self.serve_api = serve_api
        self.lambda_port = 0
        self.api_port = 0
        self.env_file: Path | None = None
        self.processes: list[SamProcess] = []
        self.aws_marker = ""
        self.in_flight = 0
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64))
        self.timeouts: dict[str, int] = {}

    # ---------------------------------------------------------------- lifecycle
    def sam_args(self, env_file: Path) -> list[str]:
        """Options shared by ``sam local invoke|start-api|start-lambda``."""
        return [
            "--template",
            str(self.built_template),
            # template.yaml's Fn::ForEach loops (AWS::LanguageExtensions); SAM CLI runs them from the build
            # directory, where samconfig.toml (which turns this on) is not found.
            "--language-extensions",
            "--env-vars",
            str(env_file),
            "--region",
            REGION,
            "--invoke-image",
            self.image,
            "--skip-pull-image",
            "--add-host",
            f"{CONTAINER_HOST}:{self.bridge}",
            "--container-host-interface",
            "127.0.0.1",
        ]

    def start(self, model: StackModel, aws_port: int) -> None:
        self.timeouts = {lid: fn.timeout for lid, fn in model.functions.items()}
        self.aws_marker = f"AWS_ENDPOINT_URL=http://{CONTAINER_HOST}:{aws_port}"
        self.env_file = self.logs_dir.parent / "sam-env-vars.json"
        self.env_file.parent.mkdir(parents=True, exist_ok=True)
        self.env_file.write_text(json.dumps(env_vars(model, f"http://{CONTAINER_HOST}:{aws_port}"), indent=2))
        self.lambda_port = self._spawn("start-lambda")
        if self.serve_api:
            self.api_port = self._spawn("start-api")
        deadline = time.monotonic() + 120
        for p, port in zip(self.processes, [self.lambda_port, self.api_port], strict=False):
            while not _port_open(port):
                if not p.alive():
                    raise RuntimeError(f"sam local {p.name} exited:\n{p.tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sam local {p.name} did not listen on port {port}:\n{p.tail()}")
                time.sleep(0.2)

    def _spawn(self, command: str) -> int:
        """``sam local <command>`` on a free port; containers are created on first use and kept warm."""
        assert self.env_file is not None
        port = free_port()
        cmd = [sam_executable(), "local", command, "--host", "127.0.0.1", "--port", str(port)]
        cmd += [*self.sam_args(self.env_file), "--warm-containers", "LAZY"]
        log = self.logs_dir / f"sam-local-{command}.log"
        self.processes.append(SamProcess(command, cmd, self.built_template.parent, sam_environment(), log))
        return port

    def stop(self) -> None:
        threads = [threading.Thread(target=p.stop) for p in self.processes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.processes.clear()
        self._session.close()
        removed = remove_containers(self.aws_marker) if self.aws_marker else 0
        if removed:
            self.echo(f"[docker] removed {removed} containers SAM CLI left behind")

    def describe(self) -> dict[str, Any]:
        """What ``python -m devstack invoke`` needs to run ``sam local invoke`` against this stack."""
        assert self.env_file is not None, "runtime not started"
        return {
            "image": self.image,
            "bridge": self.bridge,
            "template": str(self.built_template),
            "env_vars": str(self.env_file),
            "sam_args": self.sam_args(self.env_file),
        }

    def front(
        self,
        api: ApiModel,
        gateway: Gateway,
        record: Callable[[str, str, float, str, str], None],
        translate_authorization: Callable[[str], str],
    ) -> SamApiFront:
        return SamApiFront(api, self.api_url, gateway, record, translate_authorization)

    def warm(self, model: StackModel, base_url: str, token: str) -> None:
        """Create every function's container before ``ready``, with requests that change nothing.

        A container's first invocation costs seconds (container, runtime, imports); afterwards it stays
        warm. The API functions are called through the front (an unknown id or an empty body: 404/422
        answers), the event functions through start-lambda with an empty batch.
        """
        started = time.monotonic()
        calls: list[Callable[[], object]] = []
        with requests.get(f"{base_url}/openapi.json", timeout=300) as resp:  # the API answers at all
            resp.raise_for_status()
        api_functions = set()
        for route in model.api.routes if model.api else []:
            api_functions.add(route.function)
            path = re.sub(r"\{[^}]+\}", "00000000000000000000000000", route.path)
            method = "GET" if route.method == "ANY" else route.method
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            url = f"{base_url}{path}"
            calls.append(partial(requests.request, method, url, headers=headers, data="{}", timeout=300))
        for lid, fn in model.functions.items():
            if lid not in api_functions and (fn.sqs_events or fn.stream_events):
                calls.append(partial(self.invoke, lid, {"Records": []}))
        with ThreadPoolExecutor(max_workers=4) as pool:
            for future in [pool.submit(call) for call in calls]:
                future.result()
        self.echo(f"[docker] {len(calls)} functions warm in {time.monotonic() - started:.1f}s")

    # ---------------------------------------------------------------- invocations
    @property
    def lambda_url(self) -> str:
        return f"http://127.0.0.1:{self.lambda_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def invoke(self, logical_id: str, event: Any) -> InvokeResult:
        """The Lambda Invoke API of ``sam local start-lambda`` (RequestResponse)."""
        rid = str(uuid.uuid4())
        with self._lock:
            self.in_flight += 1
        started = time.monotonic()
        try:
            resp = self._session.post(
                f"{self.lambda_url}/2015-03-31/functions/{logical_id}/invocations",
                data=json.dumps(event),
                timeout=self.timeouts.get(logical_id, 30) + 120,  # the first one creates the container
            )
        except requests.RequestException as exc:
            err = {"errorType": "Runtime.Unavailable", "errorMessage": f"sam local start-lambda: {exc}"}
            return InvokeResult(False, None, err, (time.monotonic() - started) * 1000, rid)
        finally:
            with self._lock:
                self.in_flight -= 1
        duration = (time.monotonic() - started) * 1000
        try:
            payload = resp.json() if resp.content else None
        except ValueError:
            payload = resp.text
        if resp.status_code != 200:
            message = payload.get("message", resp.text) if isinstance(payload, dict) else resp.text
            err = {"errorType": f"Invoke.{resp.status_code}", "errorMessage": str(message)}
            return InvokeResult(False, None, err, duration, rid)
        if resp.headers.get("X-Amz-Function-Error") or is_error_payload(payload):
            error = payload if isinstance(payload, dict) else {"errorMessage": str(payload)}
            return InvokeResult(False, None, error, duration, rid)
        return InvokeResult(True, payload, None, duration, rid)


def prepare_runtime(template: Path, logs_dir: Path, echo: Echo, serve_api: bool = True) -> DockerRuntime:
    """Docker answering, the base image there, the functions built for this host: a runtime to start.

    Raises :class:`devstack.docker.image.DockerUnavailableError` (one line) when Docker cannot be had.
    """
    from devstack.docker import image as docker

    bridge, image = docker.prepare(echo)
    built = sam_build(template, docker.docker_arch(), echo)
    return DockerRuntime(bake_layers(built, image, echo), bridge, logs_dir, echo=echo, serve_api=serve_api)
