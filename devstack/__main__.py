"""``python -m devstack run|token|redrive|soak|chaos``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from devstack.tokens import mint_token

if TYPE_CHECKING:
    from devstack.stack import LocalStack


class StartupInterruptedError(Exception):
    """A stop signal arrived while the stack was still starting."""


def _overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--parameter-overrides expects Key=Value, got {item!r}")
        out[key] = value
    return out


def cmd_run(args: argparse.Namespace) -> int:
    from devstack.stack import LocalStack, StackOptions

    template = Path(args.template)
    state_dir = template.resolve().parent / ".devstack"
    logs_dir = state_dir / "logs"
    docker = None
    if args.docker:
        from devstack.docker.image import DockerUnavailableError
        from devstack.docker.samlocal import prepare_runtime
        from devstack.runtime import PythonNotFoundError

        try:
            docker = prepare_runtime(template, logs_dir, lambda line: print(line, flush=True))
        except (DockerUnavailableError, PythonNotFoundError) as exc:
            print(f"run-docker: {exc}", file=sys.stderr)
            return 2
    stack = LocalStack(
        template,
        StackOptions(
            port=args.port,
            parameter_overrides=_overrides(args.parameter_overrides),
            endpoint_file=state_dir / "endpoint.json",
            max_concurrency=args.max_concurrency,
            aws_port=args.aws_port,
            report_path=state_dir / "not-emulated.txt",
            logs_dir=logs_dir,
            docker=docker,
        ),
    )
    stop = threading.Event()
    starting = True

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal starting
        stop.set()
        if starting:  # SIGINT or SIGTERM before ready: give up the start-up (LocalStack.start stops what it began)
            starting = False
            raise StartupInterruptedError(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
        starting = False
        for line in startup_lines(stack, verbose=args.verbose):
            print(line, flush=True)
        stop.wait()
    except StartupInterruptedError as exc:
        print(f"{exc} before the stack was ready", flush=True)
    finally:
        starting = False
        print("stopping...", flush=True)
        stack.stop()
    return 0


def startup_lines(stack: LocalStack, verbose: bool = False) -> list[str]:
    """What `make run` prints once the stack is up: the ready line first, then what a user acts on."""
    lines = [
        f"ready: {stack.base_url}",
        f"  docs:   {stack.base_url}/docs",
        "  token:  make token   (alice; make token SUB=bob for another user; then: Authorization: Bearer <token>)",
        f"  logs:   {_shown(stack.logs_dir)}/<LogicalId>.log",
        f"  AWS:    {stack.aws_endpoint}   (moto; AWS_ENDPOINT_URL for the aws CLI and boto3)",
        f"  {stack.summary()}, started in {stack.startup_seconds:.1f}s",
    ]
    if stack.docker is not None:
        lines += [
            f"  functions: the Lambda runtime in Docker ({stack.docker.image}); SAM CLI's output:",
            f"          {_shown(stack.logs_dir)}/sam-local-start-api.log, sam-local-start-lambda.log",
            "  sample events: make invoke FN=CreateOrderFunction EVENT=events/create-order.json",
        ]
    missing = stack.not_emulated()
    if missing:
        where = "below" if verbose else f"{_shown(stack.report_path)} (or run with --verbose)"
        lines.append(f"  {len(missing)} template features are not emulated locally: {where}")
    if verbose:
        lines += missing
    return lines


def _shown(path: Path | None) -> str:
    if path is None:
        return "--verbose"
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def cmd_token(args: argparse.Namespace) -> int:
    print(mint_token(args.user, ttl=args.ttl))
    return 0


def cmd_redrive(args: argparse.Namespace) -> int:
    from devstack.aws import make_client
    from devstack.resources import redrive_messages

    path = Path(args.endpoint_file)
    if not path.exists():
        print(f"no running local stack ({path} not found): start it with `make run`", file=sys.stderr)
        return 1
    info = json.loads(path.read_text())
    queues: dict[str, str] = info["queues"]
    dlq = args.queue
    if dlq not in queues:
        dlq = next((lid for lid, url in queues.items() if url == args.queue or url.endswith("-" + args.queue)), "")
    if not dlq:
        print(f"unknown queue {args.queue}; known: {', '.join(queues)}", file=sys.stderr)
        return 1
    source = info["redrive"].get(dlq)
    if not source:
        print(f"{dlq} is no queue's dead-letter queue (see RedrivePolicy in the template)", file=sys.stderr)
        return 1
    moved = redrive_messages(make_client("sqs", info["aws_endpoint"]), queues[dlq], queues[source])
    print(f"moved {moved} messages from {dlq} to {source}")
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    """``sam local invoke`` of one function with a sample event, against the running ``make run-docker``."""
    from devstack.docker.sam_cli import sam_local_invoke

    path = Path(args.endpoint_file)
    info = json.loads(path.read_text()) if path.exists() else {}
    if "docker" not in info:
        print(f"no running `make run-docker` ({path}): start it first, in another terminal", file=sys.stderr)
        return 1
    sam_args = info["docker"]["sam_args"]
    print(f"sam local invoke {args.function} --event {args.event} {' '.join(sam_args)}", file=sys.stderr, flush=True)
    return int(sam_local_invoke(sam_args, args.function, Path(args.event).resolve(), capture=False).returncode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description="Local stack for template.yaml")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the whole stack locally")
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    run.add_argument("--template", default="template.yaml")
    run.add_argument("--parameter-overrides", nargs="*", default=[], metavar="KEY=VALUE")
    run.add_argument(
        "--aws-port",
        type=int,
        default=int(os.environ.get("AWS_PORT", "0")),
        help="port of the local AWS services (moto); default a free one, env AWS_PORT",
    )
    run.add_argument(
        "--docker",
        action="store_true",
        help="run every function in the Lambda runtime in Docker through SAM CLI (make run-docker)",
    )
    run.add_argument("--max-concurrency", type=int, default=4, help="warm workers per function at most")
    run.add_argument(
        "--verbose", action="store_true", help="also print every template feature that is not emulated locally"
    )
    run.set_defaults(func=cmd_run)
    tok = sub.add_parser("token", help="print a bearer token for the local stack")
    tok.add_argument("--user", required=True)
    tok.add_argument("--ttl", type=int, default=3600)
    tok.set_defaults(func=cmd_token)
    red = sub.add_parser("redrive", help="move a DLQ's messages back to its source queue")
    red.add_argument("--queue", required=True, help="logical id (e.g. OrdersInboxDLQ) or URL of the DLQ")
    red.add_argument("--endpoint-file", default=".devstack/endpoint.json")
    red.set_defaults(func=cmd_redrive)
    inv = sub.add_parser("invoke", help="sam local invoke FUNCTION with EVENT against the running make run-docker")
    inv.add_argument("--function", required=True, help="logical id, e.g. CreateOrderFunction")
    inv.add_argument("--event", required=True, help="a JSON event file, e.g. events/create-order.json")
    inv.add_argument("--endpoint-file", default=".devstack/endpoint.json")
    inv.set_defaults(func=cmd_invoke)
    from loadtest import chaos_soak, soak

    soak.add_parser(sub)
    chaos_soak.add_parser(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
