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
