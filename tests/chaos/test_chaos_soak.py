"""The short form of `make chaos`: a few hundred orders under the default fault rates, every invariant checked.

It runs the command itself (its own process: one local stack per process) and fails with its report."""

from __future__ import annotations

import subprocess
import sys

from tests.support.lambda_env import ROOT

SHORT_FORM_ORDERS = 200


def test_short_chaos_soak_keeps_every_invariant() -> None:
    cmd = [sys.executable, "-m", "devstack", "chaos", "--orders", str(SHORT_FORM_ORDERS)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)  # noqa: S603
    report = out.stdout[-6000:] + out.stderr[-3000:]
    assert out.returncode == 0, report
    assert "violations: 0" in out.stdout, report
    injected = next(line for line in out.stdout.splitlines() if line.startswith("faults injected: "))
    assert int(injected.split(": ")[1]) > 0, report  # faults were really injected
