"""statemachine/delivery.asl.json, which neither cfn-lint nor the SAM translator reads.

The definition, with the template's DefinitionSubstitutions filled in, is validated by asl-validator (npm,
pinned in tools/asl, installed by make) and parsed by moto's Step Functions parser (what the local stack
runs). Its retriers are checked against the error names DynamoDB documents for UpdateItem (botocore's copy
of the service's API model): Step Functions names a service error "DynamoDB." + the exception name.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from tests.support.sam_template import ROOT, referenced_id, sam_template

ASL_VALIDATOR = ROOT / "tools" / "asl" / "node_modules" / ".bin" / "asl-validator"
# Errors worth retrying: throttling, a 500, write conflicts. Not: a failed condition (caught), a missing
# table or an item collection too large (no retry changes them).
TRANSIENT = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "TransactionConflictException",
    "ReplicatedWriteConflictException",
}


def update_item_errors() -> set[str]:
    model = botocore.session.get_session().get_service_model("dynamodb")
    return {shape.name for shape in model.operation_model("UpdateItem").error_shapes}


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    """The definition as Step Functions receives it (the template's DefinitionSubstitutions filled in); a
    resource's reference becomes its logical id, a string where Step Functions gets the resource's name."""
    return sam_template().definition(resource=referenced_id)


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    if not ASL_VALIDATOR.exists():
        pytest.fail(f"{ASL_VALIDATOR} is missing: `make test` (or `make asl-validator`) installs it")
    return subprocess.run(  # noqa: S603 - the pinned validator on a file this test wrote
        [str(ASL_VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def test_asl_validator_accepts_the_definition(definition, tmp_path):
    path = tmp_path / "delivery.json"
    path.write_text(json.dumps(definition))
    result = _validate(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_asl_validator_is_not_a_rubber_stamp(definition, tmp_path):
    broken = json.loads(json.dumps(definition))
    broken["States"]["WaitForDelivery"]["Next"] = "NoSuchState"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    result = _validate(path)
    assert result.returncode != 0
    assert "NoSuchState" in result.stdout + result.stderr


def test_moto_parses_the_definition(definition):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    program, _ = AmazonStateLanguageParser.parse(json.dumps(definition))
    assert program is not None


def _task_retriers(definition: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    return [
        (name, state.get("Retry", []))
        for name, state in definition["States"].items()
        if state["Type"] == "Task" and state["Resource"].startswith("arn:aws:states:::dynamodb:")
    ]


def test_retriers_name_only_errors_dynamodb_documents(definition):
    documented = update_item_errors()
    assert "InternalServerError" in documented  # the model is the one we think it is
    tasks = _task_retriers(definition)
    assert tasks
    for state, retriers in tasks:
        for retrier in retriers:
            for name in retrier["ErrorEquals"]:
                if name.startswith("States."):
                    continue
                service, _, error = name.partition(".")
                assert service == "DynamoDB" and error in documented, f"{state}: {name} is never raised"


def test_every_transient_dynamodb_error_is_retried_and_a_failed_condition_is_not(definition):
    assert documented_subset(TRANSIENT)
    for state, retriers in _task_retriers(definition):
        matches = {error: first_retrier(retriers, f"DynamoDB.{error}") for error in TRANSIENT}
        for error, retrier in matches.items():
            assert retrier is not None and retrier["MaxAttempts"] >= 3, f"{state}: DynamoDB.{error} is not retried"
        condition = first_retrier(retriers, "DynamoDB.ConditionalCheckFailedException")
        assert condition is None or condition.get("MaxAttempts", 3) == 0, f"{state} retries a failed condition"
        caught = [
            c
            for c in definition["States"][state].get("Catch", [])
            if "DynamoDB.ConditionalCheckFailedException" in c["ErrorEquals"]
        ]
        assert caught, f"{state}: a cancelled order must end the execution quietly"


def test_a_bounded_catch_all_retrier_is_the_backstop(definition):
    for state, retriers in _task_retriers(definition):
        last = retriers[-1]
        assert last["ErrorEquals"] == ["States.ALL"], f"{state}: no catch-all retrier last"
        assert 1 <= last["MaxAttempts"] <= 5
        # The whole backstop waits at most a few minutes: interval * (1 + rate + rate^2 ...).
        waits = sum(
            last.get("IntervalSeconds", 1) * last.get("BackoffRate", 2.0) ** i for i in range(last["MaxAttempts"])
        )
        assert waits <= 300
        # An error nobody listed, e.g. a 500 under the name the definition used to retry, is still retried.
        assert first_retrier(retriers, "DynamoDB.InternalServerErrorException") is last


def documented_subset(names: set[str]) -> bool:
    return names <= update_item_errors()


def first_retrier(retriers: list[dict[str, Any]], error: str) -> dict[str, Any] | None:
    """The retrier Step Functions applies to ``error``: the first whose ErrorEquals matches it."""
    for retrier in retriers:
        if error in retrier["ErrorEquals"] or retrier["ErrorEquals"] == ["States.ALL"]:
            return retrier
    return None
