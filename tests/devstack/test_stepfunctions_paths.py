"""devstack.stepfunctions: moto's Step Functions reads a reference path as AWS does (one node), which the
delivery state machine's Choice relies on; paths with a wildcard keep moto's (and AWS's) list."""

from __future__ import annotations

from moto.stepfunctions.parser.asl.component.common.string import string_expression

from devstack.stepfunctions import use_aws_reference_paths

ERRORS = {"outcome": {"errors": [{"Code": "ConditionalCheckFailed"}], "responses": [{"Error": {"Code": "X"}}]}}


def test_a_reference_path_through_an_index_is_the_node_itself():
    use_aws_reference_paths()
    use_aws_reference_paths()  # installing twice wraps once
    extract = string_expression.extract_json
    assert extract("$.outcome.errors[0].Code", ERRORS) == "ConditionalCheckFailed"
    assert extract("$.outcome.errors[0]", ERRORS) == {"Code": "ConditionalCheckFailed"}
    assert extract("$['outcome']['errors'][0]['Code']", ERRORS) == "ConditionalCheckFailed"
    assert extract("$.outcome.responses[*].Error", ERRORS) == [{"Code": "X"}]


def test_a_path_that_is_not_there_is_not_logged_as_an_error(caplog):
    import logging

    use_aws_reference_paths()
    log = logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component")
    with caplog.at_level(logging.ERROR):
        log.error("%s at '%s'", "Exception=NoSuchJsonPathError, Details=None", "$.outcome.errors[0]")
        log.error("%s at '%s'", "Exception=TypeError, Details=None", "a state")
    assert [r.getMessage() for r in caplog.records] == ["Exception=TypeError, Details=None at 'a state'"]


def test_a_held_wait_state_ends_only_once_released():
    """inspect.hold_waits: e2e tests act between an order's confirmation and its delivery without racing the delay."""
    import json
    import threading

    import boto3
    from moto import mock_aws

    from devstack.stepfunctions import WAIT_GATE, gate_wait_states

    gate_wait_states()
    gate_wait_states()  # installing twice gates once
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 0, "End": True}}}
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(
            name="gated", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/x"
        )["stateMachineArn"]

        def status(execution: str) -> str:
            return sfn.describe_execution(executionArn=execution)["status"]

        def ended(execution: str) -> threading.Event:
            done = threading.Event()

            def watch() -> None:
                while status(execution) == "RUNNING":
                    threading.Event().wait(0.02)
                done.set()

            threading.Thread(target=watch, daemon=True).start()
            return done

        with WAIT_GATE.held():
            held = sfn.start_execution(stateMachineArn=arn, name="held")["executionArn"]
            # a Wait of 0 s, a moment it would pass in at once: still running while the gate is held
            assert not ended(held).wait(0.5)
            assert status(held) == "RUNNING"
        assert ended(held).wait(30), "released, the execution ends"
        assert status(held) == "SUCCEEDED"
        free = sfn.start_execution(stateMachineArn=arn, name="free")["executionArn"]
        assert ended(free).wait(30) and status(free) == "SUCCEEDED"
