"""template.yaml and the code must agree: these tests fail when one changes without the other."""

import importlib

import pytest

from devstack.template import load_stack_model
from orders.domain import TRANSITIONS, OrderStatus
from platform_core.events import EVENT_MODELS, EventType, event_type_of
from tests.support.lambda_env import TEMPLATE
from tools.event_catalogue import INBOXES, TOPICS


@pytest.fixture(scope="module")
def model():
    return load_stack_model(TEMPLATE)


def test_state_machine_delivers_only_what_the_domain_allows(model):
    definition = model.state_machine.definition
    task = definition["States"]["MarkDelivered"]
    params = task["Parameters"]
    values = params["ExpressionAttributeValues"]
    assert params["TableName"] == model.physical_id("OrdersTable")
    assert values[":delivered"] == {"S": OrderStatus.DELIVERED.value}
    allowed = {v["S"] for k, v in values.items() if k.startswith(":confirmed")}
    assert allowed == {s.value for s in TRANSITIONS[OrderStatus.DELIVERED]}
    assert params["ConditionExpression"] == "#status = :confirmed"
    assert task["Catch"][0]["ErrorEquals"] == ["DynamoDB.ConditionalCheckFailedException"]
    assert definition["States"][task["Catch"][0]["Next"]]["Type"] == "Succeed"


def test_delivery_wait_is_the_template_parameter(model):
    assert model.state_machine.definition["States"]["WaitForDelivery"]["Seconds"] == 60
    faster = load_stack_model(TEMPLATE, {"DeliveryDelaySeconds": "2"})
    assert faster.state_machine.definition["States"]["WaitForDelivery"]["Seconds"] == 2


def test_every_handler_exists(model, monkeypatch):
    for function in model.functions.values():
        for name, value in function.env.items():
            monkeypatch.setenv(name, value or "configured")
        module_name, _, attr = function.handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module_name), attr)), function.logical_id


def test_subscriptions_deliver_each_event_to_its_consumer(model):
    by_queue = {}
    for subscription in model.subscriptions.values():
        queue = model.queue_by_arn(subscription.endpoint)
        by_queue[queue.logical_id] = (subscription.topic_arn, set(subscription.filter_policy["type"]))
    assert by_queue["PaymentsInbox"] == (
        model.physical_id("OrdersTopic"),
        {EventType.PAYMENT_CREATE, EventType.ORDER_CANCELLED},
    )
    assert by_queue["OrdersInbox"] == (model.physical_id("PaymentsTopic"), {EventType.PAYMENT_PROCESSED})


def test_the_event_catalogue_names_the_templates_topics_publishers_and_subscriptions(model):
    models = {m.__name__: m for m in EVENT_MODELS}
    for topic, (source, publisher, _) in TOPICS.items():
        env = model.functions[publisher].env
        assert (env["EVENTS_TOPIC_ARN"], env["EVENT_SOURCE"]) == (model.physical_id(topic), source)
    for consumer, (topic, queue, names) in INBOXES.items():
        assert [s.queue for s in model.functions[consumer].sqs_events] == [queue]
        (subscription,) = [
            s for s in model.subscriptions.values() if model.queue_by_arn(s.endpoint).logical_id == queue
        ]
        assert subscription.topic_arn == model.physical_id(topic)
        assert set(subscription.filter_policy["type"]) == {event_type_of(models[n]) for n in names}


def test_every_inbox_has_a_dlq_and_reports_batch_item_failures(model):
    consumers = [f for f in model.functions.values() if f.sqs_events]
    assert {f.logical_id for f in consumers} == {"OrdersInboxFunction", "PaymentsInboxFunction"}
    for function in consumers:
        for source in function.sqs_events:
            assert source.report_batch_item_failures
            assert model.queues[source.queue].redrive is not None
    for function in model.functions.values():
        for source in function.stream_events:
            assert source.report_batch_item_failures


def test_publishers_publish_to_their_own_services_topic(model):
    assert model.functions["OrdersPublisherFunction"].env["EVENTS_TOPIC_ARN"] == model.physical_id("OrdersTopic")
    assert model.functions["PaymentsPublisherFunction"].env["EVENTS_TOPIC_ARN"] == model.physical_id("PaymentsTopic")
    assert model.functions["OrdersPublisherFunction"].stream_events[0].table == "OrdersTable"
    assert model.functions["PaymentsPublisherFunction"].stream_events[0].table == "PaymentsTable"


def test_one_function_per_route_and_docs_without_auth(model):
    routes = {(r.method, r.path): (r.function, r.auth) for r in model.routes}
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
    assert model.api.stage_name == "api"
    authorizer = model.api.authorizers["JwtAuthorizer"]
    assert (authorizer.payload_type, authorizer.identity_header, authorizer.ttl) == ("TOKEN", "Authorization", 300)


def test_a_payment_claim_outlives_every_function_that_may_hold_it(model):
    """A claim older than CLAIM_LEASE is settled as dead: no live charger may still hold one that old."""
    from payments.service import CLAIM_LEASE

    charging = [f for f in model.functions.values() if "CARD_SANDBOX_TABLE_NAME" in f.env]
    assert {f.logical_id for f in charging} == {"PayOrderFunction", "PaymentsInboxFunction"}
    for function in charging:
        assert function.timeout < CLAIM_LEASE.total_seconds(), function.logical_id
        assert function.env["CARD_SANDBOX_TABLE_NAME"] == model.physical_id("CardSandboxTable")


def test_a_cancel_outlasts_a_dead_claim_before_its_dlq(model):
    """A cancel that meets a claim whose charger died is redelivered until the claim expires and it can
    settle it: the inbox's deliveries must span more than CLAIM_LEASE, or it would end in the DLQ."""
    from payments.service import CLAIM_LEASE

    inbox = next(q for q in model.queues.values() if q.logical_id == "PaymentsInbox")
    assert inbox.redrive is not None
    span = int(inbox.attributes["VisibilityTimeout"]) * (inbox.redrive.max_receive_count - 1)
    assert span > CLAIM_LEASE.total_seconds()
