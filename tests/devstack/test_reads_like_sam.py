"""The local stack reads template.yaml as CloudFormation gets it: devstack's model of the project's template
against the SAM transform's output (tests/support/sam_template.py), fact by fact.

The unit tests learn the template from the transform; this is where devstack's own reading is held to it.
"""

from __future__ import annotations

from typing import Any

import pytest

from devstack.events.filters import parse_filter_criteria
from devstack.template import StackModel, load_stack_model
from tests.support.sam_template import TEMPLATE, SamTemplate, sam_template

PARAMETER_SETS = {
    "defaults": {},
    "overridden": {"EnvironmentName": "prod", "DeliveryDelaySeconds": "2", "InboxMaxReceiveCount": "3"},
}


@pytest.fixture(scope="module", params=list(PARAMETER_SETS))
def both(request: pytest.FixtureRequest) -> tuple[StackModel, SamTemplate]:
    parameters = PARAMETER_SETS[request.param]
    return load_stack_model(TEMPLATE, parameters), sam_template(**parameters)


def deployed(sam: SamTemplate, model: StackModel, node: Any) -> str | None:
    """What a value becomes locally: a parameter's value, a resource's physical id; None for anything else
    (conditions, attributes), which devstack's own tests cover."""
    value = sam.value(node)
    if not isinstance(value, dict):
        return str(value)
    if set(value) == {"Ref"}:
        return model.physical_id(value["Ref"])
    return None


def test_functions_handlers_timeouts_and_environments(both):
    model, sam = both
    assert set(model.functions) == set(sam.functions)
    for lid, function in sam.functions.items():
        local = model.functions[lid]
        assert (local.handler, local.timeout) == (function.handler, function.timeout), lid
        assert set(local.env) == set(function.env), lid
        for name, node in function.env.items():
            expected = deployed(sam, model, node)
            if expected is not None:
                assert local.env[name] == expected, (lid, name)


def test_event_sources_and_their_filters(both):
    model, sam = both
    local = {
        (lid, "sqs", s.queue, s.report_batch_item_failures, "[]")
        for lid, f in model.functions.items()
        for s in f.sqs_events
    } | {
        (lid, "dynamodb-stream", s.table, s.report_batch_item_failures, repr(s.filters))
        for lid, f in model.functions.items()
        for s in f.stream_events
    }
    assert local == {
        (
            s.function,
            s.kind,
            s.source,
            "ReportBatchItemFailures" in s.response_types,
            repr(parse_filter_criteria(s.filter_criteria, s.logical_id) if s.filter_criteria else []),
        )
        for s in sam.event_sources
    }


def test_subscriptions_and_queues(both):
    model, sam = both
    sqs = {lid: s for lid, s in sam.subscriptions.items() if s.protocol == "sqs"}
    assert {lid for lid, s in model.subscriptions.items() if s.protocol == "sqs"} == set(sqs)
    for lid, subscription in sqs.items():
        local = model.subscriptions[lid]
        assert local.topic_arn == deployed(sam, model, subscription.topic_arn), lid
        queue = model.queue_by_arn(local.endpoint)
        assert queue is not None and queue.logical_id == subscription.queue, lid
        assert local.filter_policy == subscription.filter_policy, lid
    for lid in sam.of_type("AWS::SQS::Queue"):
        redrive = sam.redrive(lid)
        local_redrive = model.queues[lid].redrive
        assert (
            None if local_redrive is None else (local_redrive.dead_letter_queue, local_redrive.max_receive_count)
        ) == (redrive), lid
        if "VisibilityTimeout" in sam.resources[lid]["Properties"]:
            assert model.queues[lid].attributes["VisibilityTimeout"] == str(
                sam.queue_attribute(lid, "VisibilityTimeout")
            )


def test_routes_stage_and_authorizer(both):
    model, sam = both
    assert {(r.method, r.path, r.function, r.auth) for r in model.routes} == {
        (r.method, r.path, r.function, r.auth) for r in sam.routes
    }
    assert model.api is not None
    assert sam.stage_names(model.api.logical_id) == [model.api.stage_name]
    for name, local in model.api.authorizers.items():
        authorizer = sam.authorizer(name)
        assert (local.payload_type.lower(), local.identity_header, local.ttl, local.function) == (
            authorizer.type,
            authorizer.identity_header,
            authorizer.ttl,
            authorizer.function,
        )


def test_the_state_machine_definition(both):
    model, sam = both
    ((lid, machine),) = model.state_machines.items()
    assert machine.definition == sam.definition(lid, resource=lambda node: deployed(sam, model, node))
