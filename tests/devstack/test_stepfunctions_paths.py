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
