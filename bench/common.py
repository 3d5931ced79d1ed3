"""Figures, statistics, the results table and small helpers shared by the sections."""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Figure:
    """One measured figure and the floor/baseline (measured in the same run) it is compared with."""

    section: str
    name: str
    value: float
    unit: str
    baseline_name: str = ""
    baseline_value: float | None = None
    note: str = ""
    ratio: float | None = field(default=None)

    def __post_init__(self) -> None:
        if self.ratio is None and self.baseline_value:
            self.ratio = self.value / self.baseline_value

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("value", "baseline_value", "ratio"):
            if isinstance(d[k], float):
                d[k] = round(d[k], 6)
        return d


@dataclass
class Config:
    quick: bool
    template: Path
    out: Path

    def n(self, full: int, quick: int) -> int:
        return quick if self.quick else full


def percentile(values: Iterable[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    data = sorted(values)
    if not data:
        return math.nan
    k = max(0, min(len(data) - 1, math.ceil(p / 100 * len(data)) - 1))
    return data[k]


def median(values: Iterable[float]) -> float:
    data = list(values)
    return statistics.median(data) if data else math.nan


def timed_ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _fmt(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    if v == 0:
        return "0"
    return f"{v:.4g}"


def render_table(figures: list[Figure]) -> str:
    rows = [("figure", "value", "unit", "baseline / floor", "baseline", "ratio")]
    section = None
    lines: list[str] = []
    body: list[tuple[str, ...] | str] = []
    for f in figures:
        if f.section != section:
            section = f.section
            body.append(f"== {section}")
        body.append(
            (
                f.name,
                _fmt(f.value),
                f.unit,
                f.baseline_name,
                _fmt(f.baseline_value),
                f"{f.ratio:.2f}x" if f.ratio is not None else "-",
            )
        )
    table_rows = [r for r in body if isinstance(r, tuple)]
    widths = [max(len(r[i]) for r in [*rows, *table_rows]) for i in range(6)]
    right = {1, 4, 5}

    def fmt_row(r: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)).rstrip()

    lines.append(fmt_row(rows[0]))
    lines.append("  ".join("-" * w for w in widths))
    for r in body:
        lines.append(r if isinstance(r, str) else fmt_row(r))
    return "\n".join(lines)


def write_results(path: Path, figures: list[Figure], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([f.as_json() for f in figures], indent=2) + "\n")
    meta_path = path.with_name(path.stem + ".meta.json")
    meta_path.write_text(json.dumps(meta, indent=2, default=str) + "\n")
