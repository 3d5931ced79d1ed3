"""template.yaml and the code must agree: these tests fail when one changes without the other.

The template's facts are read after the SAM transform (tests/support/sam_template.py), as CloudFormation
receives them; a reference is compared as the intrinsic it is ({"Ref": "OrdersTopic"}: "this is the topic").
"""

import importlib
import json
from typing import Any

import pytest

from orders.domain import TRANSITIONS, OrderStatus
from platform_core.events import EVENT_MODELS, EventType, event_type_of
from tests.support.sam_template import SamTemplate, sam_template
from tools.event_catalogue import INBOXES, TOPICS


@pytest.fixture(scope="module")
def sam() -> SamTemplate:
    return sam_template()


def ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def queue_arn(logical_id: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def test_state_machine_delivers_only_what_the_domain_allows(sam):
    """The task runs the statements the orders inbox put in the execution's input: each one the domain's
    confirmed -> delivered transition, on the orders table the inbox is given."""
    from orders.repository import delivered_statement

    definition = sam.definition()
    task = definition["States"]["MarkDelivered"]
    assert task["Resource"] == "arn:aws:states:::aws-sdk:dynamodb:batchExecuteStatement"
    assert task["Parameters"] == {"Statements.$": "$.statements"}
    assert sam.functions["OrdersInboxFunction"].env["ORDERS_TABLE_NAME"] == ref("OrdersTable")
    statement = delivered_statement("OrdersTable")("alice", "o1", "2026-12-03T12:00:00.000Z", "c1")
    assert statement["Statement"].startswith('UPDATE "OrdersTable" SET "status" = ? ')
    assert statement["Statement"].endswith('WHERE userId = ? AND orderId = ? AND "status" = ?')
    values = [p["S"] for p in statement["Parameters"]]
    assert values[0] == OrderStatus.DELIVERED.value
    assert {values[-1]} == {s.value for s in TRANSITIONS[OrderStatus.DELIVERED]}
    assert values[1:5] == ["2026-12-03T12:00:00.000Z", "c1", "alice", "o1"]
    assert "Catch" not in task  # a failed condition is an order's own outcome, not the execution's


def test_delivery_wait_is_the_template_parameter(sam):
    """The execution waits until deliverAt, which the orders inbox sets DeliveryDelaySeconds after now."""
    import datetime as dt

    from orders.delivery import StepFunctionsDeliveryScheduler

    assert sam.definition()["States"]["WaitForDelivery"] == {
        "Type": "Wait",
        "TimestampPath": "$.deliverAt",
        "Next": "MarkDelivered",
    }
    assert sam.functions["OrdersInboxFunction"].env["DELIVERY_DELAY_SECONDS"] == {"Ref": "DeliveryDelaySeconds"}
    started: list[dict[str, Any]] = []

    class Sfn:
        class exceptions:  # noqa: N801 - boto3's shape
            ExecutionAlreadyExists = KeyError

        def start_execution(self, **kwargs: Any) -> dict[str, str]:
            started.append(json.loads(kwargs["input"]))
            return {"executionArn": "arn"}

    now = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
    scheduler = StepFunctionsDeliveryScheduler(Sfn(), "arn", lambda *a: {}, 60, now=lambda: now)  # type: ignore[arg-type]
    scheduler.schedule("alice", "o1", "c1")
    assert scheduler.flush() == set()
    assert started[0]["deliverAt"] == "2026-12-03T12:01:00.000Z"


def test_every_handler_exists(sam, monkeypatch):
    assert len(sam.functions) >= 10
    for function in sam.functions.values():
        for name, value in sam.import_environment(function.logical_id).items():
            monkeypatch.setenv(name, value)
        module_name, _, attr = function.handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module_name), attr)), function.logical_id


def test_subscriptions_deliver_each_event_to_its_consumer(sam):
    by_queue: dict[Any, Any] = {}
    for subscription in sam.subscriptions.values():
        if subscription.protocol == "sqs":
            assert subscription.endpoint == queue_arn(subscription.queue)
            by_queue[subscription.queue] = (subscription.topic_arn, set(subscription.filter_policy["type"]))
    assert by_queue == {
        "PaymentsInbox": (ref("OrdersTopic"), {EventType.PAYMENT_CREATE, EventType.ORDER_CANCELLED}),
        "OrdersInbox": (ref("PaymentsTopic"), {EventType.PAYMENT_PROCESSED}),
    }


def test_the_event_catalogue_names_the_templates_topics_publishers_and_subscriptions(sam):
    models = {m.__name__: m for m in EVENT_MODELS}
    for topic, (source, publisher, _) in TOPICS.items():
        env = sam.functions[publisher].env
        assert (env["EVENTS_TOPIC_ARN"], env["EVENT_SOURCE"]) == (ref(topic), source)
    for consumer, (topic, queue, names) in INBOXES.items():
        assert [s.source for s in sam.sources_of(consumer, "sqs")] == [queue]
        (subscription,) = [s for s in sam.subscriptions.values() if s.queue == queue]
        assert subscription.topic_arn == ref(topic)
        assert set(subscription.filter_policy["type"]) == {event_type_of(models[n]) for n in names}


def test_every_inbox_has_a_dlq_and_reports_batch_item_failures(sam):
    consumers = {s.function for s in sam.event_sources if s.kind == "sqs"}
    assert consumers == {"OrdersInboxFunction", "PaymentsInboxFunction"}
    for source in sam.event_sources:
        assert "ReportBatchItemFailures" in source.response_types, source.logical_id
        if source.kind == "sqs":
            redrive = sam.redrive(source.source)
            assert redrive is not None, source.source
            assert sam.resources[redrive[0]]["Type"] == "AWS::SQS::Queue"
    assert {s.kind for s in sam.event_sources} == {"sqs", "dynamodb-stream"}


def test_publishers_publish_to_their_own_services_topic(sam):
    assert sam.functions["OrdersPublisherFunction"].env["EVENTS_TOPIC_ARN"] == ref("OrdersTopic")
    assert sam.functions["PaymentsPublisherFunction"].env["EVENTS_TOPIC_ARN"] == ref("PaymentsTopic")
    assert [s.source for s in sam.sources_of("OrdersPublisherFunction", "dynamodb-stream")] == ["OrdersTable"]
    assert [s.source for s in sam.sources_of("PaymentsPublisherFunction", "dynamodb-stream")] == ["PaymentsTable"]


def test_one_function_per_route_and_docs_without_auth(sam):
    routes = {(r.method, r.path): (r.function, r.auth) for r in sam.routes}
    assert routes == {
        ("GET", "/orders"): ("ListOrdersFunction", "JwtAuthorizer"),
        ("POST", "/orders"): ("CreateOrderFunction", "JwtAuthorizer"),
        ("GET", "/orders/{orderId}"): ("GetOrderFunction", "JwtAuthorizer"),
        ("DELETE", "/orders/{orderId}"): ("CancelOrderFunction", "JwtAuthorizer"),
        ("GET", "/payments"): ("ListPaymentsFunction", "JwtAuthorizer"),
        ("GET", "/payments/{orderId}"): ("GetPaymentFunction", "JwtAuthorizer"),
        ("POST", "/payments/pay/{orderId}"): ("PayOrderFunction", "JwtAuthorizer"),
        ("GET", "/openapi.json"): ("DocsFunction", "NONE"),
        ("GET", "/asyncapi.json"): ("DocsFunction", "NONE"),
        ("GET", "/docs"): ("DocsFunction", "NONE"),
        ("GET", "/docs/{asset}"): ("DocsFunction", "NONE"),
    }
    (api,) = {r.api for r in sam.routes}
    assert sam.stage_names(api) == ["api"]
    authorizer = sam.authorizer("JwtAuthorizer")
    assert (authorizer.type, authorizer.identity_header, authorizer.ttl) == ("token", "Authorization", 300)
    assert authorizer.function == "AuthorizerFunction"


def test_a_payment_claim_outlives_every_function_that_may_hold_it(sam):
    """A claim older than CLAIM_LEASE is settled as dead: no live charger may still hold one that old."""
    from payments.domain import CLAIM_LEASE

    charging = [f for f in sam.functions.values() if "CARD_SANDBOX_TABLE_NAME" in f.env]
    assert {f.logical_id for f in charging} == {"PayOrderFunction", "PaymentsInboxFunction", "ReconcilerFunction"}
    for function in charging:
        assert function.timeout < CLAIM_LEASE.total_seconds(), function.logical_id
        assert function.env["CARD_SANDBOX_TABLE_NAME"] == ref("CardSandboxTable")


def test_a_cancel_outlasts_a_dead_claim_before_its_dlq(sam):
    """A cancel that meets a claim whose charger died is redelivered until the claim expires and it can
    settle it: the inbox's deliveries must span more than CLAIM_LEASE, or it would end in the DLQ."""
    from payments.domain import CLAIM_LEASE

    redrive = sam.redrive("PaymentsInbox")
    assert redrive is not None
    _, max_receive_count = redrive
    span = int(sam.queue_attribute("PaymentsInbox", "VisibilityTimeout")) * (max_receive_count - 1)
    assert span > CLAIM_LEASE.total_seconds()


def test_every_function_and_the_layer_run_the_python_the_build_and_the_local_runtimes_use(sam):
    # devstack.runtime is what sam build (tools/lambda-build), make run-docker's image and the bench use.
    from devstack.runtime import RUNTIME

    functions = sam.of_type("AWS::Lambda::Function")
    assert functions and {p["Runtime"] for p in functions.values()} == {RUNTIME}
    assert {p["Architectures"][0] for p in functions.values()} == {"arm64"}
    layers = sam.of_type("AWS::Lambda::LayerVersion")
    assert layers and all(p["CompatibleRuntimes"] == [RUNTIME] for p in layers.values())


def test_snapstart_is_off_by_default_no_version_is_published():
    sam = sam_template()
    assert not sam.of_type("AWS::Lambda::Alias")
    assert not sam.of_type("AWS::Lambda::Version")
    functions = sam.of_type("AWS::Lambda::Function").values()
    assert {p.get("SnapStart", {}).get("ApplyOn", "None") for p in functions} == {"None"}


def test_snapstart_on_restores_every_function_but_the_authorizer_and_everything_calls_the_alias():
    sam = sam_template(EnableSnapStart="true")
    functions = sam.of_type("AWS::Lambda::Function")
    restored = {lid for lid, p in functions.items() if p.get("SnapStart", {}).get("ApplyOn") == "PublishedVersions"}
    assert restored == set(functions) - {"AuthorizerFunction"}
    aliases = sam.of_type("AWS::Lambda::Alias")
    assert {a["FunctionName"]["Ref"] for a in aliases.values()} == restored
    assert {a["Name"] for a in aliases.values()} == {"live"}
    alias_of = {a["FunctionName"]["Ref"]: lid for lid, a in aliases.items()}
    # Queues and streams invoke the alias (the unqualified name would run $LATEST, never restored).
    mappings = sam.of_type("AWS::Lambda::EventSourceMapping")
    assert mappings
    assert all(m["FunctionName"]["Ref"] in alias_of.values() for m in mappings.values())
    # So does every API route: its integration URI names the alias.
    body = json.dumps(sam.resources["OrdersApi"]["Properties"]["Body"])
    for lid in restored:
        if f"${{{lid}.Arn}}" in body:
            raise AssertionError(f"an API integration calls {lid} unqualified")
    assert any(f"${{{alias}}}" in body for alias in alias_of.values())
