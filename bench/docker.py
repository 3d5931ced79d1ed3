"""The same requests through `make run` and through `make run-docker`, and a cold vs a warm Lambda runtime container.

One run starts the local stack twice, one after the other (moto is global to a process): first with its
worker processes, then with every function in the Lambda runtime in Docker (SAM CLI). Each gets the same
sequential `GET /orders/{id}` and `POST /orders` from one client; p50/p95 are printed side by side, the
`make run` figure as the baseline. Then, inside the Docker stack, `GetOrderFunction` is invoked through
`sam local start-lambda` once on a container that does not exist yet (container, runtime and imports:
the local cold start) and then warm.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from bench.common import Config, Figure, percentile, progress
from bench.stackctx import Ctx

SECTION = "7. make run vs make run-docker (sequential, one client)"
USER = "bench-docker"


def _latencies(ctx: Ctx, n_get: int, n_post: int) -> dict[str, list[float]]:
    s = requests.Session()
    h = ctx.headers(USER)
    order_id = ctx.create_order(s, USER)
    for _ in range(3):  # the connection and each function are warm before the first sample
        s.get(f"{ctx.base}/orders/{order_id}", headers=h, timeout=60).raise_for_status()
        ctx.create_order(s, USER)
    out: dict[str, list[float]] = {"GET /orders/{id}": [], "POST /orders": []}
    for _ in range(n_get):
        t0 = time.perf_counter()
        s.get(f"{ctx.base}/orders/{order_id}", headers=h, timeout=60).raise_for_status()
        out["GET /orders/{id}"].append((time.perf_counter() - t0) * 1000)
    for _ in range(n_post):
        t0 = time.perf_counter()
        s.post(f"{ctx.base}/orders", json={"bill": 12.5}, headers=h, timeout=60).raise_for_status()
        out["POST /orders"].append((time.perf_counter() - t0) * 1000)
    s.close()
    return out


def _run_stack(cfg: Config, logs: Path, docker: Any, measure: Callable[[Ctx], Any]) -> Any:
    from devstack.stack import LocalStack, StackOptions

    with LocalStack(
        cfg.template,
        StackOptions(
            port=0,
            parameter_overrides={"DeliveryDelaySeconds": 0},
            echo=lambda _line: None,
            watch=False,
            logs_dir=logs,
            docker=docker,
        ),
    ) as stack:
        return measure(Ctx(stack))


def _cold_and_warm(ctx: Ctx, n: int) -> tuple[float, list[float]]:
    """GetOrderFunction through start-lambda: its first invocation creates the container."""
    docker = ctx.stack.docker
    assert docker is not None
    event = {
        "resource": "/orders/{orderId}",
        "path": "/orders/00000000000000000000000000",
        "httpMethod": "GET",
        "headers": {},
        "pathParameters": {"orderId": "00000000000000000000000000"},
        "requestContext": {"requestId": "bench", "authorizer": {"principalId": USER, "userId": USER}},
        "body": None,
    }
    first = docker.invoke("GetOrderFunction", event)
    if not first.ok:
        raise RuntimeError(f"GetOrderFunction: {first.error_message}")
    warm = [docker.invoke("GetOrderFunction", event).duration_ms for _ in range(n)]
    return first.duration_ms, warm


def run(cfg: Config, details: dict[str, Any]) -> list[Figure]:
    from devstack.docker.image import DockerUnavailableError
    from devstack.docker.samlocal import prepare_runtime

    n_get, n_post = cfg.n(100, 10), cfg.n(50, 5)
    with tempfile.TemporaryDirectory(prefix="bench-docker-") as tmp:
        try:
            runtime = prepare_runtime(cfg.template, Path(tmp) / "docker-logs", echo=progress)
        except DockerUnavailableError as exc:
            progress(f"section docker skipped: {exc}")
            details["docker"] = {"skipped": str(exc)}
            return []
        progress(f"docker: {n_get} GET and {n_post} POST through make run")
        local = _run_stack(cfg, Path(tmp) / "logs", None, lambda ctx: _latencies(ctx, n_get, n_post))
        progress("docker: the same through make run-docker (starting it warms every function)")

        def measure(ctx: Ctx) -> tuple[dict[str, list[float]], tuple[float, list[float]]]:
            return _latencies(ctx, n_get, n_post), _cold_and_warm(ctx, cfg.n(20, 5))

        in_docker, (cold, warm) = _run_stack(cfg, Path(tmp) / "docker-logs", runtime, measure)
    figures = []
    for route, ms in in_docker.items():
        for p in (50, 95):
            figures.append(
                Figure(
                    SECTION,
                    f"{route} p{p}, make run-docker",
                    percentile(ms, p),
                    "ms",
                    f"make run p{p}",
                    percentile(local[route], p),
                    f"n={len(ms)}",
                )
            )
    figures.append(
        Figure(
            SECTION,
            "GetOrderFunction first invocation, new Lambda runtime container",
            cold,
            "ms",
            "warm invocation p50",
            percentile(warm, 50),
            f"through sam local start-lambda; warm n={len(warm)}",
        )
    )
    details["docker"] = {"image": runtime.image, "local_ms": local, "docker_ms": in_docker, "warm_ms": warm}
    return figures
