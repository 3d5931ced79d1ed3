"""statemachine/delivery.asl.json, which neither cfn-lint nor the SAM translator reads.

The definition, with the template's DefinitionSubstitutions filled in, is validated by asl-validator (npm,
pinned in tools/asl, installed by make) and parsed by moto's Step Functions parser (what the local stack
runs). Its retriers are checked against the error names DynamoDB documents for BatchExecuteStatement
(botocore's copy of the service's API model): an AWS SDK integration names a service error "DynamoDb." + the
exception name, with "Exception" appended when the name lacks it.
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
# Errors of the whole call worth retrying: throttling, a 500. A failed condition is no error of the call:
# it is one statement's response (that order was not confirmed any more).
TRANSIENT = {"ThrottlingException", "RequestLimitExceeded", "InternalServerError"}
SDK_TASK = "arn:aws:states:::aws-sdk:dynamodb:"


def operation_errors(operation: str) -> set[str]:
    model = botocore.session.get_session().get_service_model("dynamodb")
    return {shape.name for shape in model.operation_model(operation).error_shapes}


def batch_errors() -> set[str]:
    return operation_errors("BatchExecuteStatement")


def operation_of(resource: str) -> str:
    """``arn:aws:states:::aws-sdk:dynamodb:executeStatement`` -> ``ExecuteStatement``."""
    name = resource.removeprefix(SDK_TASK)
    return name[0].upper() + name[1:]


def sdk_error_name(error: str) -> str:
    """How Step Functions' AWS SDK integration names a DynamoDB error."""
    return "DynamoDb." + (error if error.endswith("Exception") else error + "Exception")


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


def test_the_validator_refuses_a_filter_on_the_error_code(definition, tmp_path):
    """Its path grammar takes no string comparison in a filter (AWS documents numeric ones only), which is why
    the Choice walks outcome.errors instead of a filter picking the errors that are no failed condition."""
    filtered = json.loads(json.dumps(definition))
    filtered["States"]["MarkDelivered"]["ResultSelector"]["errors.$"] = "$.Responses[?(@.Error.Code != 'X')]"
    path = tmp_path / "filtered.json"
    path.write_text(json.dumps(filtered))
    result = _validate(path)
    assert result.returncode != 0
    assert "errors.$ is invalid" in result.stdout + result.stderr


def test_moto_parses_the_definition(definition):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    program, _ = AmazonStateLanguageParser.parse(json.dumps(definition))
    assert program is not None


def all_states(states: dict[str, Any]) -> dict[str, Any]:
    """Every state, those inside a Map's ItemProcessor too."""
    found = dict(states)
    for state in states.values():
        if "ItemProcessor" in state:
            found.update(all_states(state["ItemProcessor"]["States"]))
    return found


def _sdk_tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: state
        for name, state in all_states(definition["States"]).items()
        if state["Type"] == "Task" and state["Resource"].startswith(SDK_TASK)
    }


def _task_retriers(definition: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    return [(name, state.get("Retry", [])) for name, state in _sdk_tasks(definition).items()]


def test_retriers_and_catchers_name_only_errors_dynamodb_documents(definition):
    tasks = _sdk_tasks(definition)
    assert {name: operation_of(t["Resource"]) for name, t in tasks.items()} == {
        "MarkDelivered": "BatchExecuteStatement",
        "MarkOneDelivered": "ExecuteStatement",
    }
    for state, task in tasks.items():
        documented = {sdk_error_name(e) for e in operation_errors(operation_of(task["Resource"]))}
        assert sdk_error_name("InternalServerError") in documented  # the model is the one we think it is
        for handler in task.get("Retry", []) + task.get("Catch", []):
            for name in handler["ErrorEquals"]:
                assert name.startswith("States.") or name in documented, f"{state}: {name} is never raised"


def test_every_transient_dynamodb_error_is_retried(definition):
    assert documented_subset(TRANSIENT)
    for state, retriers in _task_retriers(definition):
        for error in TRANSIENT:
            retrier = first_retrier(retriers, sdk_error_name(error))
            assert retrier is not None and retrier["MaxAttempts"] >= 3, f"{state}: {error} is not retried"
            assert retrier["ErrorEquals"] != ["States.ALL"], f"{state}: {error} left to the backstop"


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
        # An error nobody listed (a network error, a name DynamoDB adds later) is still retried.
        assert first_retrier(retriers, "DynamoDb.SomethingNewException") is last


MAX_ORDERS = 25  # orders.delivery.MAX_ORDERS_PER_EXECUTION: BatchExecuteStatement's limit


def test_the_choice_retries_exactly_when_a_statement_failed_for_another_reason_than_its_condition(definition):
    """outcome.errors lists the statements' errors. The Choice walks it by index, one pair of rules per
    statement of the largest batch: index i missing -> every error was a failed condition; index i of another
    code -> retry. A rule reads index i only after the rules of i-1, so it never compares a missing field."""
    mark = definition["States"]["MarkDelivered"]
    assert mark["ResultSelector"]["errors.$"] == "$.Responses[*].Error"
    assert mark["ResultPath"] == "$.outcome" and mark["Next"] == "AnyStatementFailed"
    choice = definition["States"]["AnyStatementFailed"]
    expected: list[dict[str, Any]] = []
    for i in range(MAX_ORDERS):
        expected.append({"Variable": f"$.outcome.errors[{i}]", "IsPresent": False, "Next": "Delivered"})
        code = {"Variable": f"$.outcome.errors[{i}].Code", "StringEquals": "ConditionalCheckFailed"}
        expected.append({"Not": code, "Next": "RetryEachStatement"})
    assert choice["Choices"] == expected
    assert choice["Default"] == "Delivered"  # all 25 statements failed their conditions
    assert definition["States"]["Delivered"] == {"Type": "Succeed"}


def test_the_retry_runs_each_statement_alone_and_a_failed_condition_is_an_outcome(definition):
    retry = definition["States"]["RetryEachStatement"]
    assert retry["Type"] == "Map" and retry["ItemsPath"] == "$.statements" and retry.get("End") is True
    assert "Catch" not in retry  # an iteration that runs out of retries fails the execution: DeliveryFailedAlarm
    one = retry["ItemProcessor"]["States"]["MarkOneDelivered"]
    assert one["Parameters"] == {"Statement.$": "$.Statement", "Parameters.$": "$.Parameters"}
    conditional = sdk_error_name("ConditionalCheckFailedException")
    assert first_retrier(one["Retry"], conditional) == {**one["Retry"][0], "MaxAttempts": 0}
    (catch,) = one["Catch"]
    assert catch["ErrorEquals"] == [conditional]
    assert retry["ItemProcessor"]["States"][catch["Next"]]["Type"] == "Succeed"


def test_orders_delivery_batches_no_more_statements_than_the_choice_reads():
    from orders.delivery import MAX_ORDERS_PER_EXECUTION

    assert MAX_ORDERS_PER_EXECUTION == MAX_ORDERS


def documented_subset(names: set[str]) -> bool:
    return names <= batch_errors()


def first_retrier(retriers: list[dict[str, Any]], error: str) -> dict[str, Any] | None:
    """The retrier Step Functions applies to ``error``: the first whose ErrorEquals matches it."""
    for retrier in retriers:
        if error in retrier["ErrorEquals"] or retrier["ErrorEquals"] == ["States.ALL"]:
            return retrier
    return None
