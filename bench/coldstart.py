"""Cold start: time to import each function's handler module in fresh processes, against `import boto3`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.build import BUILD_DIR, du_bytes, ensure_build
from bench.common import Config, Figure, median, progress
from devstack.template import FunctionModel, StackModel, load_stack_model
from devstack.workers import worker_env

SECTION = "1. cold start (import in a fresh process)"
UNUSED_ENDPOINT = "http://127.0.0.1:9"  # imports create clients but must not call AWS

CHILD = """
import importlib, json, sys, time
t0 = time.perf_counter()
importlib.import_module(sys.argv[1])
print(json.dumps({"ms": (time.perf_counter() - t0) * 1000}))
"""


def _module(fn: FunctionModel) -> str:
    return fn.handler.rpartition(".")[0]


def _child_env(fn: FunctionModel) -> dict[str, str]:
    # Exactly what the local stack gives a worker: template env, layer + CodeUri on PYTHONPATH, fake creds.
    return worker_env(fn, UNUSED_ENDPOINT)


def _boto3_env(fn: FunctionModel) -> dict[str, str]:
    env = _child_env(fn)
    env["PYTHONPATH"] = ""
    return env


def import_ms(module: str, env: dict[str, str], cwd: Path | None) -> float:
    proc = subprocess.run(
        [sys.executable, "-P", "-c", CHILD, module],
        env=env,
        cwd=str(cwd) if cwd else None,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"import {module} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["ms"])


_IMPORTTIME = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def import_profile(fn: FunctionModel, runs: int = 2, top: int = 8) -> list[tuple[str, float]]:
    """`python -X importtime`: self time (ms) summed per top-level package (min of ``runs``), largest first."""
    best: dict[str, float] = {}
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-P", "-X", "importtime", "-c", f"import {_module(fn)}"],
            env=_child_env(fn),
            cwd=str(fn.code_uri),
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        per_pkg: dict[str, float] = defaultdict(float)
        for line in proc.stderr.splitlines():
            m = _IMPORTTIME.match(line)
            if m:
                per_pkg[m.group(4).split(".")[0]] += int(m.group(1)) / 1000
        for pkg, ms in per_pkg.items():
            best[pkg] = min(ms, best.get(pkg, ms))
    return sorted(best.items(), key=lambda kv: -kv[1])[:top]


def package_size(fn: FunctionModel, model: StackModel) -> tuple[int, int]:
    """(function package bytes, layer bytes) of the `sam build` output."""
    fn_bytes = du_bytes(BUILD_DIR / fn.logical_id)
    layer_bytes = 0
    for lid, path in model.layers.items():
        if any(Path(p) == Path(path) for p in fn.layers):
            layer_bytes += du_bytes(BUILD_DIR / lid)
    return fn_bytes, layer_bytes


def run(cfg: Config, details: dict[str, Any]) -> list[Figure]:
    model = load_stack_model(cfg.template, {}, endpoint=UNUSED_ENDPOINT)
    details["build"] = ensure_build(cfg.template)
    functions = sorted(model.functions.values(), key=lambda f: f.logical_id)
    # Functions with the same CodeUri, handler and layers load identical code: one target each, whose
    # fresh processes take the environments of its functions in turn.
    groups: dict[tuple[str, str, tuple[str, ...]], list[FunctionModel]] = defaultdict(list)
    for fn in functions:
        groups[(str(fn.code_uri), _module(fn), tuple(str(p) for p in fn.layers))].append(fn)
    reps = cfg.n(10, 3)
    samples: dict[str, list[float]] = defaultdict(list)
    progress(f"cold start: boto3 + {len(groups)} handler modules x {reps} fresh processes (interleaved)")
    for i in range(reps):
        samples["boto3"].append(import_ms("boto3", _boto3_env(functions[0]), None))
        for (_code, module, _layers), fns in groups.items():
            fn = fns[i % len(fns)]
            samples[module].append(import_ms(module, _child_env(fn), fn.code_uri))
    boto3_ms = median(samples["boto3"])
    figures = [Figure(SECTION, "import boto3 (baseline)", boto3_ms, "ms", "", None, f"median of {reps}")]
    for (_code, module, _layers), fns in groups.items():
        names = ", ".join(f.logical_id.removesuffix("Function") for f in fns)
        figures.append(
            Figure(
                SECTION,
                f"import {module} [{names}]",
                median(samples[module]),
                "ms",
                "import boto3",
                boto3_ms,
                f"median of {reps} processes, environments of {names} in turn",
            )
        )
    for fn in functions:
        fn_bytes, layer_bytes = package_size(fn, model)
        figures.append(
            Figure(
                SECTION,
                f"{fn.logical_id} package + layer",
                (fn_bytes + layer_bytes) / 1e6,
                "MB",
                "layer alone",
                layer_bytes / 1e6 if layer_bytes else None,
                f"function {fn_bytes / 1e6:.2f} MB + layer {layer_bytes / 1e6:.2f} MB, unzipped ({details['build']})",
            )
        )
    profiles: dict[str, list[tuple[str, float]]] = {}
    for (_code, module, _layers), fns in groups.items():
        profiles[module] = import_profile(fns[0])
    details["import_profile_self_ms_by_package"] = profiles
    details["cold_start_samples_ms"] = dict(samples)
    for module, top in profiles.items():
        progress(
            f"cold start: {module} -X importtime self ms by package: " + ", ".join(f"{p} {ms:.0f}" for p, ms in top[:6])
        )
    return figures
