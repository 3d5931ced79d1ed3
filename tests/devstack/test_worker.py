"""What a warm worker (devstack.lambdas.worker) writes to a function's log when its handler raises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


def _log_of(*tokens: str) -> str:
    """Invoke the fixture's TOKEN authorizer once per token in one worker; its stderr, the function's log."""
    requests = "".join(
        json.dumps({"id": f"r{n}", "event": {"authorizationToken": t, "methodArn": "arn:aws:execute-api:x"}}) + "\n"
        for n, t in enumerate(tokens)
    )
    proc = subprocess.run(  # the worker, as the local stack starts it
        [sys.executable, "-m", "devstack.lambdas.worker"],
        input=requests,  # it exits when its stdin closes: all of its output is here
        env={
            **os.environ,
            "_HANDLER": "app.handlers.authorizer",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(FIXTURES / "functions"), str(FIXTURES / "layers/common")]),
            "AWS_DEFAULT_REGION": "us-east-1",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answers = [json.loads(line) for line in proc.stdout.splitlines() if '"id"' in line]
    assert [a["ok"] for a in answers] == [False] * len(tokens)
    return proc.stderr


def test_a_refused_token_leaves_no_traceback_in_the_log():
    log = _log_of("nope", "nope")
    assert "Traceback" not in log
    assert "Unauthorized" not in log, log  # the refusal is the authorizer's answer, not a failure


def test_a_failing_authorizer_still_logs_its_error_and_traceback():
    log = _log_of("boom")
    assert '"errorMessage": "authorizer bug"' in log and '"errorType": "RuntimeError"' in log
    assert "Traceback" in log and 'raise RuntimeError("authorizer bug")' in log
