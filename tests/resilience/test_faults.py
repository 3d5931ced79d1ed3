"""Faults in the AWS services behind the functions: nothing is lost, nothing is invented."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

from devstack import LocalStack
from devstack.aws import Fault
from tests.resilience.conftest import ROOT
from tests.resilience.support import (
    Api,
    check_invariants,
    drain,
    envelope,
    executions,
    item,
    log_records,
    publish,
    queue_depth,
    queue_url,
    scan,
    user_api,
    wait_for,
)
from tests.support.chain import executions_of


def test_sns_outage_loses_no_event_and_invents_none(stack: LocalStack):
    api = user_api(stack)
    before = {(p["userId"], p["orderId"]) for p in scan(stack, "PaymentsTable")}
    outage = stack.faults.inject(
        Fault(service="sns", operation="PublishBatch", status=500, code="InternalError", seconds=3)
    )
    ids = [api.create_id(bill=10 + i) for i in range(5)]
    # A write that did not happen (the API answered 503): no event may follow it.
    throttle = stack.faults.inject(
        Fault(service="dynamodb", operation="PutItem", status=400, code="ProvisionedThroughputExceededException")
    )
    failed = api.create(bill=99)
    throttle.remaining = 0
    assert failed.status_code == 503
    wait_for(lambda: outage.until is not None and time.monotonic() > outage.until, timeout=10, what="outage over")
    assert outage.hits > 0  # the publisher really met the outage
    stack.faults.clear()
    stack.inspect.wait_idle(60)
    payments = [p for p in scan(stack, "PaymentsTable") if (p["userId"], p["orderId"]) not in before]
    assert sorted(p["orderId"] for p in payments) == sorted(ids)  # one each, none for the failed write
    assert all(p["status"] == "pending" and p["userId"] == api_user(api) for p in payments)
    assert {p["orderId"]: p["bill"] for p in payments} == {oid: 10 + i for i, oid in enumerate(ids)}
    check_invariants(stack)


def api_user(api: Api) -> str:
    import jwt

    return str(jwt.decode(api.token, options={"verify_signature": False})["sub"])


def _inbox_batch(stack: LocalStack, messages: dict[str, str]) -> None:
    entries = [
        {"Id": str(i), "MessageBody": json.dumps({"Type": "Notification", "Message": body})}
        for i, body in enumerate(messages.values())
    ]
    stack.client("sqs").send_message_batch(QueueUrl=queue_url(stack, "PaymentsInbox"), Entries=entries)


def _received(stack: LocalStack, event_ids: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(event_ids, 0)
    for rec in log_records(stack, "PaymentsInboxFunction"):
        if rec.get("message") == "event received" and rec.get("event_id") in counts:
            counts[rec["event_id"]] += 1
    return counts


def test_consumer_failures_are_retried_without_holding_back_the_batch(stack: LocalStack):
    """UpdateItem is refused in the payments inbox (a policy without it): the cancel messages of one batch are
    retried until they are dead-lettered, while the create messages of the same batch are done once; after the
    cause is fixed, redriving the DLQ settles the cancelled ones.

    The refusal is one the SDK does not retry: with a retried 500 the SDK's back-off (up to 1 + 2 + 4 s per
    call) can outlast the function's 10 s timeout, and a timed-out batch comes back whole, creates included;
    that path is the chaos soak's, not this test's."""
    user = f"batch-{uuid.uuid4().hex[:8]}"
    new_id = lambda: f"01RES{uuid.uuid4().hex[:21].upper()}"  # noqa: E731
    to_cancel = [new_id() for _ in range(2)]
    _inbox_batch(
        stack,
        {oid: envelope("payment-create-event", {"orderId": oid, "userId": user, "bill": 5}) for oid in to_cancel},
    )
    stack.inspect.wait_idle(60)
    creates = {f"evt-{uuid.uuid4().hex[:12]}": new_id() for _ in range(4)}
    cancels = {f"evt-{uuid.uuid4().hex[:12]}": oid for oid in to_cancel}
    batch = {
        eid: envelope("payment-create-event", {"orderId": oid, "userId": user, "bill": 5}, event_id=eid)
        for eid, oid in creates.items()
    }
    batch |= {
        eid: envelope("order-cancelled-event", {"orderId": oid, "userId": user, "bill": 5}, event_id=eid)
        for eid, oid in cancels.items()
    }
    fault = stack.faults.inject(
        Fault(service="dynamodb", operation="UpdateItem", status=400, code="AccessDeniedException")
    )
    n_inv = len(stack.invocations)
    _inbox_batch(stack, batch)
    stack.inspect.wait_idle(60)
    assert fault.hits >= 3 * 2  # three deliveries of two messages, no SDK retry
    counts = _received(stack, list(batch))
    assert {e: counts[e] for e in creates} == dict.fromkeys(creates, 1)  # not held back, not repeated
    assert {e: counts[e] for e in cancels} == dict.fromkeys(cancels, 3)  # InboxMaxReceiveCount
    outcomes = [i.outcome for i in stack.invocations[n_inv:] if i.function == "PaymentsInboxFunction"]
    assert any("failed items" in o for o in outcomes), outcomes  # a partial failure, not a failed batch
    assert wait_for(lambda: queue_depth(stack, "PaymentsInboxDLQ") == 2, timeout=10, what="2 messages in DLQ")
    payments = {p["orderId"]: p["status"] for p in scan(stack, "PaymentsTable") if p["userId"] == user}
    assert payments == {**dict.fromkeys(creates.values(), "pending"), **dict.fromkeys(to_cancel, "pending")}

    stack.faults.clear()  # the cause is fixed
    assert stack.redrive("PaymentsInboxDLQ") == 2
    stack.inspect.wait_idle(60)
    payments = {p["orderId"]: p["status"] for p in scan(stack, "PaymentsTable") if p["userId"] == user}
    assert payments == {**dict.fromkeys(creates.values(), "pending"), **dict.fromkeys(to_cancel, "voided")}
    assert queue_depth(stack, "PaymentsInboxDLQ") == 0


def test_poison_message_goes_to_the_dlq_and_does_not_block_others(stack: LocalStack):
    api = user_api(stack)
    publish(stack, "OrdersTopic", "payment-create-event", "{this is not json")
    publish(stack, "OrdersTopic", "payment-create-event", envelope("payment-create-event", {"orderId": "x"}))
    oid = api.create_id()  # a good message at the same time
    stack.inspect.wait_idle(60)
    assert api.payment(oid).status_code == 200
    dead = wait_for(lambda: drain(stack, "PaymentsInboxDLQ"), timeout=10, what="poison in DLQ")
    assert len(dead) == 2
    assert any("this is not json" in b for b in dead)
    check_invariants(stack)


def test_a_good_message_dead_lettered_by_a_fault_is_redriven(stack: LocalStack):
    user = f"redrive-{uuid.uuid4().hex[:8]}"
    ddb = stack.client("dynamodb")
    oid = f"01RED{uuid.uuid4().hex[:21].upper()}"
    # The order is written first (its stream record feeds the outbox), then payments cannot write.
    ddb.put_item(
        TableName=stack.physical_id("OrdersTable"),
        Item={
            "userId": {"S": user},
            "orderId": {"S": oid},
            "bill": {"N": "42"},
            "status": {"S": "created"},
            "createdAt": {"S": "2026-11-25T12:00:00.000Z"},
            "updatedAt": {"S": "2026-11-25T12:00:00.000Z"},
            "correlationId": {"S": "redrive-test"},
        },
    )
    stack.faults.inject(Fault(service="dynamodb", operation="PutItem", status=500, code="InternalServerError"))
    stack.inspect.wait_idle(60)
    assert wait_for(lambda: queue_depth(stack, "PaymentsInboxDLQ") == 1, timeout=10, what="message in DLQ")
    assert item(stack, "PaymentsTable", user, oid) is None
    stack.faults.clear()  # the cause is fixed
    assert stack.redrive("PaymentsInboxDLQ") == 1
    stack.inspect.wait_idle(60)
    payment = item(stack, "PaymentsTable", user, oid)
    assert payment is not None and payment["status"] == "pending"
    assert queue_depth(stack, "PaymentsInboxDLQ") == 0
    check_invariants(stack)


def test_the_documented_redrive_command_moves_messages_back(stack: LocalStack):
    user = f"cli-{uuid.uuid4().hex[:8]}"
    oid = f"01CLI{uuid.uuid4().hex[:21].upper()}"
    stack.faults.inject(Fault(service="dynamodb", operation="PutItem", status=500, code="InternalServerError"))
    publish(
        stack,
        "OrdersTopic",
        "payment-create-event",
        envelope("payment-create-event", {"orderId": oid, "userId": user, "bill": 7}),
    )
    stack.inspect.wait_idle(60)
    assert wait_for(lambda: queue_depth(stack, "PaymentsInboxDLQ") == 1, timeout=10, what="message in DLQ")
    stack.faults.clear()
    endpoint_file = stack.endpoint_file
    assert endpoint_file is not None
    out = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "devstack", "redrive", "--queue", "PaymentsInboxDLQ", "--endpoint-file", endpoint_file],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "moved 1 messages" in out.stdout
    stack.inspect.wait_idle(60)
    payment = item(stack, "PaymentsTable", user, oid)
    assert payment is not None and payment["status"] == "pending"


def test_throttled_create_is_503_with_retry_after_and_creates_nothing(stack: LocalStack):
    api = user_api(stack)
    stack.faults.inject(
        Fault(service="dynamodb", operation="PutItem", status=400, code="ProvisionedThroughputExceededException")
    )
    resp = api.create(bill=12)
    stack.faults.clear()
    assert resp.status_code == 503, resp.text
    assert resp.headers["Retry-After"].isdigit()
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert resp.json()["status"] == 503
    stack.inspect.wait_idle(60)
    listed = api.request("GET", "/orders")
    assert listed.status_code == 200 and listed.json()["data"] == []
    assert not [o for o in scan(stack, "OrdersTable") if o["userId"] == api_user(api)]


def test_throttled_pay_is_503_and_leaves_the_payment_pending(stack: LocalStack):
    api = user_api(stack)
    oid = api.create_id()
    stack.inspect.wait_idle(60)
    stack.faults.inject(
        Fault(service="dynamodb", operation="UpdateItem", status=400, code="ProvisionedThroughputExceededException")
    )
    resp = api.pay(oid)
    stack.faults.clear()
    assert resp.status_code == 503, resp.text
    assert resp.headers["Retry-After"].isdigit()
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert api.payment(oid).json()["data"]["status"] == "pending"
    assert api.order(oid).json()["data"]["status"] == "created"
    # Once the throttling is over the same request succeeds, once.
    assert api.pay(oid).status_code == 200
    stack.inspect.wait_idle(60)
    assert api.order(oid).json()["data"]["status"] == "delivered"
    check_invariants(stack)


def test_failed_delivery_start_is_retried_and_runs_once(stack: LocalStack):
    api = user_api(stack)
    oid = api.create_id()
    stack.inspect.wait_idle(60)
    fault = stack.faults.inject(
        Fault(service="stepfunctions", operation="StartExecution", status=500, code="ServiceUnavailable", times=4)
    )
    assert api.pay(oid).status_code == 200
    stack.inspect.wait_idle(60)
    assert fault.hits == 4  # the start really failed, and was retried with the message
    runs = executions_of(stack.client("stepfunctions"), executions(stack), oid)
    assert len(runs) == 1, runs
    assert runs[0]["status"] == "SUCCEEDED"
    assert api.order(oid).json()["data"]["status"] == "delivered"
    check_invariants(stack)


def test_authorizer_failing_on_secrets_manager_is_503_never_500(stack: LocalStack):
    # A cold authorizer must fetch the signing key; Secrets Manager keeps failing past the SDK's retries.
    stack.pools["AuthorizerFunction"].restart("test: cold authorizer")
    stack.faults.inject(
        Fault(service="secretsmanager", operation="GetSecretValue", status=503, code="ServiceUnavailable")
    )
    try:
        resp = user_api(stack).request("GET", "/orders")  # a new token: no cached policy
    finally:
        stack.faults.clear()
    assert resp.status_code == 503, resp.text
    assert resp.headers["Retry-After"] == "1"
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert resp.json()["status"] == 503
    assert user_api(stack).request("GET", "/orders").status_code == 200  # the same request, once it recovers
