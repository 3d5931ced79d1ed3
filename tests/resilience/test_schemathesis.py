"""Generated requests from the committed OpenAPI document: no 5xx, every response conforms to it, and what
the document allows the API accepts (schemathesis' "schema validation mismatch" fails the run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import schemathesis
from hypothesis import settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from devstack import LocalStack
from tests.resilience import schemathesis_hooks
from tests.resilience.conftest import ROOT
from tests.resilience.support import RECEIVED, Seen

schema = schemathesis.openapi.from_path(ROOT / "openapi.json")
PROFILE = settings.get_profile("resilience")
SETTLE_EACH_TEST = False
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, status_code_conformance]
# The CLI's verdict on the data its document allows: a warning that fails the run when an operation refuses
# (400/422) most of what the document says is valid.
CLI_CONFIG = '[warnings]\nfail-on = ["validation_mismatch"]\n'
CLI_RUN = ["--phases", "examples,coverage,fuzzing", "--checks", "not_a_server_error", "--workers", "1"]


@schema.exclude(path="/docs").parametrize()
@settings(PROFILE, max_examples=15)
def test_api_conforms_to_its_document(case: schemathesis.Case, stack: LocalStack):
    # Always a valid token: the generated data is what is under test here (tokens have their own tests).
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {stack.token('schemathesis')}"}
    response = case.call(base_url=stack.base_url, timeout=30)
    RECEIVED.append(Seen(case.method, case.formatted_path, response.status_code, dict(response.headers), response.text))
    case.validate_response(response, checks=CHECKS)


def test_the_api_accepts_the_data_its_document_allows(stack: LocalStack, tmp_path: Path):
    config = tmp_path / "schemathesis.toml"
    config.write_text(CLI_CONFIG)
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "run",
        str(ROOT / "openapi.json"),
        "--url",
        stack.base_url,
        "--header",
        f"Authorization: Bearer {stack.token('schemathesis-cli')}",
        "--exclude-path",
        "/docs",
        "--max-examples",
        "15",
        "--seed",
        "1",
        *CLI_RUN,
    ]
    env = {"SCHEMATHESIS_HOOKS": schemathesis_hooks.__file__, "NO_COLOR": "1", "PATH": "/usr/bin:/bin"}
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    assert "Schema validation mismatch" not in run.stdout, run.stdout[-3000:]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
