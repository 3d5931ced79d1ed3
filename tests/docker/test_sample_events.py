"""Every sample event of events/ through ``sam local invoke`` in the Lambda runtime, against run-docker's AWS.

The tests run in file order, one story for user ``alice`` and order ``01JD0000000000000000000000`` (the
ids the sample events carry), seeding the tables where a sample event needs an item to act on. The
running stack's pollers carry what each invocation publishes, as they would on AWS. Each sample file goes
through ``sam local invoke`` once (a new container each time); variations of an event (another token, the
same event before its item exists, an injected fault) go through the stack's ``sam local start-lambda``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from devstack import LocalStack
from devstack.aws import Fault
from devstack.docker.samlocal import DockerRuntime
from tests.docker.conftest import ROOT, sam_invoke
from tests.e2e.support import eventually
from tests.support.chain import executions_of

ORDER_ID = "01JD0000000000000000000000"
EVENTS = ROOT / "events"

pytestmark = pytest.mark.slow


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def body(result: dict[str, Any]) -> Any:
    return json.loads(result["body"])


def invoke(runtime: DockerRuntime, tmp_path: Path, function: str, event: str) -> Any:
    """``sam local invoke FUNCTION -e events/EVENT``: the function's result."""
    return sam_invoke(runtime, function, sample(event), tmp_path)


def invoke_warm(runtime: DockerRuntime, function: str, event: dict[str, Any]) -> Any:
    """The same function through the running stack's ``sam local start-lambda`` (a warm container)."""
    res = runtime.invoke(function, event)
    return res.result if res.ok else res.error


def header(result: dict[str, Any], name: str) -> str:
    single = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    return str(single[name]) if name in single else str(multi[name][0])


def item(stack: LocalStack, table: str) -> dict[str, Any] | None:
    got = stack.client("dynamodb").get_item(
        TableName=stack.physical_id(table),
        Key={"userId": {"S": "alice"}, "orderId": {"S": ORDER_ID}},
        ConsistentRead=True,
    )
    return got.get("Item")


def status(stack: LocalStack, table: str) -> str | None:
    found = item(stack, table)
    return found["status"]["S"] if found else None


def seed_order(stack: LocalStack, order_status: str) -> None:
    stack.client("dynamodb").put_item(
        TableName=stack.physical_id("OrdersTable"),
        Item={
            "userId": {"S": "alice"},
            "orderId": {"S": ORDER_ID},
            "bill": {"N": "2000"},
            "status": {"S": order_status},
            "createdAt": {"S": "2026-11-25T12:00:00.000Z"},
            "updatedAt": {"S": "2026-11-25T12:00:00.000Z"},
        },
    )


def test_every_sample_event_has_a_test_here():
    source = Path(__file__).read_text()
    by_pattern = {p.name for p in EVENTS.glob("authorizer-token*.json")}  # test_authorizer_token takes each
    named = {p.name for p in EVENTS.glob("*.json") if f'"{p.name}"' in source}
    missing = sorted({p.name for p in EVENTS.glob("*.json")} - named - by_pattern)
    assert missing == []


def test_docs_openapi(runtime: DockerRuntime, tmp_path: Path):
    result = invoke(runtime, tmp_path, "DocsFunction", "docs-openapi.json")
    assert result["statusCode"] == 200
    doc = body(result)
    assert doc["openapi"].startswith("3.")
    assert "/orders" in doc["paths"]


@pytest.mark.parametrize("event", sorted(p.name for p in EVENTS.glob("authorizer-token*.json")))
def test_authorizer_token(docker_stack: LocalStack, runtime: DockerRuntime, tmp_path: Path, event: str):
    # As committed, the tokens are a placeholder (the README says to replace it with `make token`'s) and the
    # original system's fixed token (which only the local stack's front knows): both refused as API Gateway
    # expects ("Unauthorized" is its 401).
    refused = invoke(runtime, tmp_path, "AuthorizerFunction", event)
    assert refused["errorMessage"] == "Unauthorized"
    valid = sample(event)
    valid["authorizationToken"] = f"Bearer {docker_stack.token('alice')}"
    allowed = invoke_warm(runtime, "AuthorizerFunction", valid)
    assert allowed["principalId"] == "alice"
    assert allowed["context"]["userId"] == "alice"
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_create_order(runtime: DockerRuntime, tmp_path: Path):
    result = invoke(runtime, tmp_path, "CreateOrderFunction", "create-order.json")
    assert result["statusCode"] == 201
    order = body(result)["data"]
    assert (order["userId"], order["bill"], order["status"]) == ("alice", 2000, "created")
    assert header(result, "Location").endswith(f"/orders/{order['id']}")


def test_list_orders(runtime: DockerRuntime, tmp_path: Path):
    result = invoke(runtime, tmp_path, "ListOrdersFunction", "list-orders.json")
    assert result["statusCode"] == 200
    orders = body(result)["data"]
    assert orders and {o["userId"] for o in orders} == {"alice"}


def test_get_order_and_payment_of_an_unknown_order_are_404(runtime: DockerRuntime):
    for function, event in (("GetOrderFunction", "get-order.json"), ("GetPaymentFunction", "get-payment.json")):
        result = invoke_warm(runtime, function, sample(event))
        assert result["statusCode"] == 404, (function, result)
        assert body(result)["status"] == 404


def test_payments_inbox_payment_create(docker_stack: LocalStack, runtime: DockerRuntime, tmp_path: Path):
    result = invoke(runtime, tmp_path, "PaymentsInboxFunction", "payments-inbox-payment-create.json")
    assert result == {"batchItemFailures": []}
    assert status(docker_stack, "PaymentsTable") == "pending"


def test_get_payment(runtime: DockerRuntime, tmp_path: Path):
    result = invoke(runtime, tmp_path, "GetPaymentFunction", "get-payment.json")
    assert result["statusCode"] == 200
    payment = body(result)["data"]
    assert (payment["orderId"], payment["status"], payment["card"]) == (ORDER_ID, "pending", None)


def test_pay_order(runtime: DockerRuntime, tmp_path: Path):
    result = invoke(runtime, tmp_path, "PayOrderFunction", "pay-order.json")
    assert result["statusCode"] == 200
    payment = body(result)["data"]
    assert payment["status"] == "paid"
    assert payment["card"] == {"brand": "visa", "last4": "4242"}


def test_list_payments(runtime: DockerRuntime, tmp_path: Path):
    result = invoke(runtime, tmp_path, "ListPaymentsFunction", "list-payments.json")
    assert result["statusCode"] == 200
    assert [p["status"] for p in body(result)["data"] if p["orderId"] == ORDER_ID] == ["paid"]


def test_payments_inbox_order_cancelled(docker_stack: LocalStack, runtime: DockerRuntime, tmp_path: Path):
    result = invoke(runtime, tmp_path, "PaymentsInboxFunction", "payments-inbox-order-cancelled.json")
    assert result == {"batchItemFailures": []}
    assert status(docker_stack, "PaymentsTable") == "refunded"  # it was paid


def test_cancel_order(docker_stack: LocalStack, runtime: DockerRuntime, tmp_path: Path):
    seed_order(docker_stack, "created")
    result = invoke(runtime, tmp_path, "CancelOrderFunction", "cancel-order.json")
    assert result["statusCode"] == 200
    assert body(result)["data"]["status"] == "cancelled"
    assert status(docker_stack, "OrdersTable") == "cancelled"


def test_orders_inbox_payment_processed(docker_stack: LocalStack, runtime: DockerRuntime, tmp_path: Path):
    seed_order(docker_stack, "created")
    result = invoke(runtime, tmp_path, "OrdersInboxFunction", "orders-inbox-payment-processed.json")
    assert result == {"batchItemFailures": []}
    assert status(docker_stack, "OrdersTable") in {"confirmed", "delivered"}
    sfn = docker_stack.client("stepfunctions")
    runs = sfn.list_executions(stateMachineArn=docker_stack.physical_id("DeliveryStateMachine"))["executions"]
    assert executions_of(sfn, runs, ORDER_ID)  # one execution per inbox batch, its input lists the order
    # The delivery execution, in the local stack's Step Functions, delivers it.
    eventually(lambda: status(docker_stack, "OrdersTable"), lambda s: s == "delivered", timeout=60, what="delivered")


def test_get_order(runtime: DockerRuntime, tmp_path: Path):
    result = invoke(runtime, tmp_path, "GetOrderFunction", "get-order.json")
    assert result["statusCode"] == 200
    assert body(result)["data"]["status"] == "delivered"


@pytest.mark.parametrize(
    ("function", "event"),
    [
        ("OrdersPublisherFunction", "orders-stream-created.json"),
        ("OrdersPublisherFunction", "orders-stream-cancelled.json"),
        ("OrdersPublisherFunction", "orders-stream-delivered.json"),
        ("PaymentsPublisherFunction", "payments-stream-paid.json"),
        ("PaymentsPublisherFunction", "payments-stream-declined.json"),
    ],
)
def test_stream_publishers(runtime: DockerRuntime, tmp_path: Path, function: str, event: str):
    # Every record is published (an SNS failure would be reported for retry), and the local stack's
    # consumers take the events as duplicates: nothing of the story above changes.
    assert invoke(runtime, tmp_path, function, event) == {"batchItemFailures": []}


def test_a_publisher_reports_a_record_it_cannot_publish(docker_stack: LocalStack, runtime: DockerRuntime):
    event = copy.deepcopy(sample("orders-stream-created.json"))
    docker_stack.faults.inject(
        Fault(service="sns", operation="PublishBatch", status=500, code="InternalError", times=50)
    )
    try:
        result = invoke_warm(runtime, "OrdersPublisherFunction", event)
    finally:
        docker_stack.faults.clear()
    # A batch whose every record failed is a function error, which the stream retries whole.
    assert result["errorType"] == "BatchProcessingError"
