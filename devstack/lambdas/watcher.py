"""A change to a function's code (its CodeUri or a layer) restarts its workers, as a new deployment would."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from devstack.lambdas.pool import FunctionPool


def _snapshot(dirs: list[Path]) -> tuple[int, float]:
    count, latest = 0, 0.0
    for d in dirs:
        for root, subdirs, files in os.walk(d):
            subdirs[:] = [s for s in subdirs if s not in ("__pycache__", ".pytest_cache")]
            for f in files:
                if f.endswith((".pyc", ".pyo")):
                    continue
                with contextlib.suppress(OSError):
                    latest = max(latest, os.stat(os.path.join(root, f)).st_mtime)
                    count += 1
    return count, latest


def watch_code(pools: Mapping[str, FunctionPool], stop: threading.Event) -> None:
    """Every second until ``stop``: restart the pools whose code changed, reap the others' idle workers."""
    dirs = {lid: [p.fn.code_uri, *p.fn.layers] for lid, p in pools.items()}
    unique = {d for ds in dirs.values() for d in ds}
    snaps = {d: _snapshot([d]) for d in unique}
    while not stop.wait(1.0):
        changed = set()
        for d in unique:
            snap = _snapshot([d])
            if snap != snaps[d]:
                snaps[d] = snap
                changed.add(d)
        for lid, pool in pools.items():
            if any(d in changed for d in dirs[lid]):
                pool.restart("code changed")
            else:
                pool.reap()
