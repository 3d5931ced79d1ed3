"""`python -m bench`: run the sections, print the table, write bench/results.json."""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import chain, coldstart, cost, delivery, docker, latency, publisher, scale, throughput
from bench.common import ROOT, Config, Figure, progress, render_table, write_results
from bench.stackctx import Ctx, bench_stack

STACK_SECTIONS: dict[str, Callable[[Config, Ctx, dict[str, Any]], list[Figure]]] = {
    # cost first: the stack is quiet, so the counted requests are one lifecycle's and nothing else's
    "cost": cost.run,
    "latency": latency.run,
    "throughput": throughput.run,
    "chain": chain.run,
    "delivery": delivery.run,
    "scale": scale.run,  # last: it leaves 10,000 orders behind
}
# docker: the same requests through make run and make run-docker (installs Docker when absent and root).
# publisher: stacks of its own (one per publisher setting), with a latency on every SNS call.
ALL = ["coldstart", *STACK_SECTIONS, "publisher", "docker"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small counts: a smoke run of every section (~1 min)")
    ap.add_argument("--only", default=",".join(ALL), help=f"comma-separated sections (default: {','.join(ALL)})")
    ap.add_argument("--template", default=str(ROOT / "template.yaml"))
    ap.add_argument("--out", default=None, help="results file (default bench/results.json, quick: results-quick.json)")
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(ALL)
    if unknown:
        ap.error(f"unknown sections: {sorted(unknown)}")
    out = Path(args.out) if args.out else ROOT / "bench" / ("results-quick.json" if args.quick else "results.json")
    cfg = Config(quick=args.quick, template=Path(args.template).resolve(), out=out)
    details: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": cfg.quick,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "sections": only,
    }
    figures: list[Figure] = []
    t0 = time.monotonic()

    if "coldstart" in only:
        progress("section 1/6 cold start and package sizes")
        figures += coldstart.run(cfg, details)

    stack_sections = [s for s in STACK_SECTIONS if s in only]
    if stack_sections:
        progress("starting the local stack (DeliveryDelaySeconds=0)")
        with (
            tempfile.TemporaryDirectory(prefix="bench-logs-") as logs,
            bench_stack(cfg.template, logs) as stack,
        ):
            ctx = Ctx(stack)
            for name in stack_sections:
                progress(f"section {name}")
                figures += STACK_SECTIONS[name](cfg, ctx, details)

    if "publisher" in only:
        progress("section publisher: SNS calls per 100 events and events/s, before and after PublishBatch")
        figures += publisher.run(cfg, details)

    if "docker" in only:
        progress("section docker: make run vs make run-docker")
        figures += docker.run(cfg, details)

    figures.sort(key=lambda f: f.section[:2])  # sections in numbered order, figures in measured order
    details["seconds"] = round(time.monotonic() - t0, 1)
    write_results(cfg.out, figures, details)
    print(render_table(figures))
    shown = cfg.out.relative_to(ROOT) if cfg.out.is_relative_to(ROOT) else cfg.out
    print(f"\n{len(figures)} figures in {details['seconds']} s -> {shown} (details: .meta.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
