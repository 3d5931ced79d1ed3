"""Each orders route against moto tables, through the real handler: every status code of the contract."""

import json

import pytest

from devstack.aws import Fault
from tests.support.lambda_env import ApiRequest, AwsHarness, Response, api_event

ORDER_ROUTES = {
    "create": ("CreateOrderFunction", "create-order.json"),
    "list": ("ListOrdersFunction", "list-orders.json"),
    "get": ("GetOrderFunction", "get-order.json"),
    "cancel": ("CancelOrderFunction", "cancel-order.json"),
}


@pytest.fixture
def call(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch):
    def call(route: str, **kwargs) -> Response:
        function, sample = ORDER_ROUTES[route]
        kwargs.setdefault("headers", {"Idempotency-Key": None} if route == "create" else None)
        headers = {k: v for k, v in (kwargs.pop("headers") or {}).items() if v is not None}
        event = api_event(sample, ApiRequest(headers=headers or None, **kwargs))
        if route == "create" and "Idempotency-Key" not in headers:
            event["headers"].pop("Idempotency-Key", None)
            event["multiValueHeaders"].pop("Idempotency-Key", None)
        return Response.of(aws.invoke(function, event, monkeypatch))

    return call


def create(call, bill=2000, user="alice") -> dict:
    response = call("create", body={"bill": bill}, user=user)
    assert response.status == 201, response.body
    return response.body["data"]


def test_create_returns_201_with_location_and_created_order(call, aws: AwsHarness):
    response = call("create", body={"bill": 19.99})
    assert response.status == 201
    order = response.body["data"]
    assert order["status"] == "created"
    assert order["bill"] == 19.99
    assert order["userId"] == "alice"
    assert order["createdAt"].endswith("Z")
    assert response.headers["Location"] == f"/api/orders/{order['id']}"
    assert response.headers["Content-Type"] == "application/json"
    stored = aws.items("OrdersTable")
    assert [i["orderId"] for i in stored] == [order["id"]]


def test_whole_bill_stays_an_integer_in_json(call):
    assert create(call, bill=2000)["bill"] == 2000
    assert isinstance(create(call, bill=2000)["bill"], int)


@pytest.mark.parametrize(
    ("raw_body", "field"),
    [
        ("{}", "bill"),
        ('{"bill": "2000"}', "bill"),
        ('{"bill": true}', "bill"),
        ('{"bill": -5}', "bill"),
        ('{"bill": 0}', "bill"),
        ('{"bill": 1000000.01}', "bill"),
        ('{"bill": 10.123}', "bill"),
        ('{"bill": NaN}', "bill"),
        ('{"bill": Infinity}', "bill"),
        ('{"bill": null}', "bill"),
        ('{"bill": 10, "discount": 5}', "discount"),
        ("[1, 2]", "body"),
    ],
)
def test_invalid_bill_is_422_naming_the_field(call, aws: AwsHarness, raw_body: str, field: str):
    response = call("create", raw_body=raw_body)
    assert response.status == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.body["status"] == 422
    assert field in [e["field"] for e in response.body["errors"]]
    assert aws.items("OrdersTable") == []


def test_largest_bill_is_accepted(call):
    assert create(call, bill=1_000_000)["bill"] == 1_000_000


def test_body_that_is_not_json_is_400(call):
    response = call("create", raw_body="bill=2000")
    assert response.status == 400
    assert response.body["title"] == "Bad Request"


def test_wrong_content_type_is_415(call):
    response = call("create", body={"bill": 1}, headers={"Content-Type": "text/plain"})
    assert response.status == 415


def test_idempotency_key_replays_the_same_order(call, aws: AwsHarness):
    first = call("create", body={"bill": 10}, headers={"Idempotency-Key": "key-1"})
    second = call("create", body={"bill": 10}, headers={"Idempotency-Key": "key-1"})
    assert first.status == second.status == 201
    assert first.body == second.body
    assert second.headers["Location"] == first.headers["Location"]
    assert len(aws.items("OrdersTable")) == 1


def test_idempotency_key_with_another_body_is_409(call, aws: AwsHarness):
    assert call("create", body={"bill": 10}, headers={"Idempotency-Key": "key-2"}).status == 201
    response = call("create", body={"bill": 11}, headers={"Idempotency-Key": "key-2"})
    assert response.status == 409
    assert len(aws.items("OrdersTable")) == 1


@pytest.mark.parametrize("key", ["k" * 129, "tab\tkey", "caf\u00e9"])
def test_an_invalid_idempotency_key_is_400_naming_the_header(call, aws: AwsHarness, key: str):
    # The header is a declared route parameter (see openapi.json): the resolver refuses it before any write.
    response = call("create", body={"bill": 10}, headers={"Idempotency-Key": key})
    assert response.status == 400, response.body
    assert [e["field"] for e in response.body["errors"]] == ["header.idempotency-key"]
    assert key not in json.dumps(response.body)
    assert aws.items("OrdersTable") == []


def test_idempotency_keys_are_per_user(call, aws: AwsHarness):
    alice = call("create", body={"bill": 10}, headers={"Idempotency-Key": "shared"}, user="alice")
    bob = call("create", body={"bill": 10}, headers={"Idempotency-Key": "shared"}, user="bob")
    assert alice.body["data"]["id"] != bob.body["data"]["id"]
    assert len(aws.items("OrdersTable")) == 2


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("a", "b#c"), ("a#b", "c")),  # the record key was f"{scope}#{user}#{key}": both were "create-order#a#b#c"
        (("a#b", "c"), ("a", "b#c")),
        (("a", '","b'), ('a","', "b")),  # nor may a JSON-ish encoding be fooled by quotes
    ],
)
def test_no_choice_of_user_and_key_reaches_another_users_stored_response(call, aws: AwsHarness, first, second):
    (user1, key1), (user2, key2) = first, second
    mine = call("create", body={"bill": 10}, headers={"Idempotency-Key": key1}, user=user1)
    theirs = call("create", body={"bill": 10}, headers={"Idempotency-Key": key2}, user=user2)
    assert mine.status == theirs.status == 201
    assert theirs.body["data"]["userId"] == user2
    assert theirs.body["data"]["id"] != mine.body["data"]["id"]
    assert len(aws.items("OrdersTable")) == 2


def test_requests_without_a_key_are_never_replayed(call, aws: AwsHarness):
    create(call, bill=10)
    create(call, bill=10)
    assert len(aws.items("OrdersTable")) == 2


@pytest.mark.parametrize("key", ["", "x" * 129, "tab\there", "é"])
def test_malformed_idempotency_key_is_400(call, key: str):
    assert call("create", body={"bill": 10}, headers={"Idempotency-Key": key}).status == 400


def test_list_is_newest_first_and_paginates(call):
    ids = [create(call, bill=n)["id"] for n in range(1, 6)]
    page1 = call("list", query={"limit": "2"})
    assert page1.status == 200
    assert [o["id"] for o in page1.body["data"]] == ids[::-1][:2]
    token = page1.body["nextToken"]
    page2 = call("list", query={"limit": "2", "nextToken": token})
    page3 = call("list", query={"limit": "2", "nextToken": page2.body["nextToken"]})
    seen = [o["id"] for p in (page1, page2, page3) for o in p.body["data"]]
    assert seen == ids[::-1]
    assert page3.body["nextToken"] is None


def test_last_page_has_null_next_token(call):
    create(call)
    response = call("list", query={})
    assert response.body["nextToken"] is None
    assert len(response.body["data"]) == 1


def test_default_page_size_is_20(call):
    for _ in range(21):
        create(call, bill=1)
    response = call("list", query={})
    assert len(response.body["data"]) == 20
    assert response.body["nextToken"]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", ""])
def test_invalid_limit_is_400(call, limit: str):
    response = call("list", query={"limit": limit})
    assert response.status == 400, response.body
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("token", ["garbage", "!!!", "eyJ4IjoxfQ", "a" * 600])
def test_invalid_next_token_is_400(call, token: str):
    assert call("list", query={"nextToken": token}).status == 400


def test_users_only_see_their_own_orders(call):
    mine = create(call, user="alice")
    create(call, user="bob")
    listed = call("list", query={}, user="alice").body["data"]
    assert [o["id"] for o in listed] == [mine["id"]]


def test_get_returns_the_order(call):
    order = create(call)
    response = call("get", path_params={"orderId": order["id"]})
    assert response.status == 200
    assert response.body["data"] == order


def test_get_unknown_or_foreign_order_is_404(call):
    order = create(call, user="bob")
    for order_id in ("01JD0000000000000000000000", order["id"]):
        response = call("get", path_params={"orderId": order_id}, user="alice")
        assert response.status == 404
        assert response.headers["Content-Type"] == "application/problem+json"


def test_cancel_created_order_then_again_is_a_noop(call):
    order = create(call)
    first = call("cancel", path_params={"orderId": order["id"]})
    assert first.status == 200
    assert first.body["data"]["status"] == "cancelled"
    again = call("cancel", path_params={"orderId": order["id"]})
    assert again.status == 200
    assert again.body["data"] == first.body["data"]


@pytest.mark.parametrize("status", ["declined", "delivered"])
def test_cancel_declined_or_delivered_is_409(call, aws: AwsHarness, status: str):
    order = create(call)
    set_status(aws, "alice", order["id"], status)
    response = call("cancel", path_params={"orderId": order["id"]})
    assert response.status == 409
    assert status in response.body["detail"]


def test_cancel_confirmed_order_is_allowed(call, aws: AwsHarness):
    order = create(call)
    set_status(aws, "alice", order["id"], "confirmed")
    assert call("cancel", path_params={"orderId": order["id"]}).body["data"]["status"] == "cancelled"


def test_cancel_unknown_or_foreign_order_is_404_and_changes_nothing(call, aws: AwsHarness):
    order = create(call, user="bob")
    assert call("cancel", path_params={"orderId": order["id"]}, user="alice").status == 404
    assert aws.items("OrdersTable")[0]["status"] == "created"


def test_correlation_id_is_echoed_and_stored(call, aws: AwsHarness):
    response = call("create", body={"bill": 5}, headers={"X-Correlation-Id": "trace-123"})
    assert response.headers["X-Correlation-Id"] == "trace-123"
    assert aws.items("OrdersTable")[0]["correlationId"] == "trace-123"


def test_without_authorizer_context_is_401(call):
    assert call("list", query={}, user=None).status == 401


def test_dynamodb_throttling_is_503_with_retry_after(call, aws: AwsHarness):
    aws.server.faults.inject(
        Fault(
            service="dynamodb", operation="PutItem", status=400, code="ProvisionedThroughputExceededException", times=10
        )
    )
    response = call("create", body={"bill": 5})
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    aws.server.faults.clear()
    assert aws.items("OrdersTable") == []


def set_status(aws: AwsHarness, user: str, order_id: str, status: str) -> None:
    aws.client("dynamodb").update_item(
        TableName=aws.physical_id("OrdersTable"),
        Key={"userId": {"S": user}, "orderId": {"S": order_id}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status}},
    )


def test_no_stack_trace_in_error_bodies(call):
    response = call("create", raw_body="{")
    assert "Traceback" not in json.dumps(response.body)


def test_error_answers_carry_the_correlation_id_too(call):
    headers = {"X-Correlation-Id": "trace-err"}
    not_found = call("get", path_params={"orderId": "01JD0000000000000000000000"}, headers=headers)
    invalid = call("create", raw_body='{"bill": -1}', headers=headers)
    not_json = call("create", raw_body="{", headers=headers)
    for response in (not_found, invalid, not_json):
        assert response.headers["X-Correlation-Id"] == "trace-err", response.status


@pytest.mark.parametrize(
    ("operation", "status", "code"),
    [
        ("PutItem", 500, "InternalFailure"),  # a 5xx whatever its code: AWS failed, not the request
        ("PutItem", 503, "ServiceUnavailable"),
        ("PutItem", 400, "ThrottlingException"),
    ],
)
def test_create_failing_on_aws_is_503_never_500(call, aws: AwsHarness, operation: str, status: int, code: str):
    aws.server.faults.inject(Fault(service="dynamodb", operation=operation, status=status, code=code, times=10))
    response = call("create", body={"bill": 5})
    aws.server.faults.clear()
    assert response.status == 503, response.body
    assert response.headers["Retry-After"] == "1"
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.body["status"] == 503
    assert aws.items("OrdersTable") == []


def test_idempotency_store_failing_is_503_and_the_retry_creates_one_order(call, aws: AwsHarness):
    # The first PutItem of a keyed create is the idempotency record (Powertools wraps its failure).
    aws.server.faults.inject(
        Fault(service="dynamodb", operation="PutItem", status=500, code="InternalServerError", times=6)
    )
    headers = {"Idempotency-Key": "store-down"}
    first = call("create", body={"bill": 5}, headers=headers)
    aws.server.faults.clear()
    assert first.status == 503, first.body
    assert first.headers["Retry-After"] == "1"
    again = call("create", body={"bill": 5}, headers=headers)
    assert again.status == 201
    assert [i["orderId"] for i in aws.items("OrdersTable")] == [again.body["data"]["id"]]


def test_a_client_error_that_is_the_callers_fault_stays_500(call, aws: AwsHarness):
    # Not every AWS error is transient: a rejected request is a bug of ours, answered 500 and logged.
    aws.server.faults.inject(
        Fault(service="dynamodb", operation="PutItem", status=400, code="ValidationException", times=1)
    )
    response = call("create", body={"bill": 5})
    aws.server.faults.clear()
    assert response.status == 500


def test_a_create_whose_answer_was_lost_is_not_repeated_when_its_record_expires(call, aws: AwsHarness):
    """The first attempt created the order, then died before its idempotency record said so (a worker
    killed, the store failing): once the open record expires, the client's retry gets the same order."""
    headers = {"Idempotency-Key": "lost-answer"}
    aws.server.faults.inject(Fault(service="dynamodb", operation="UpdateItem", status=500, code="InternalServerError"))
    first = call("create", body={"bill": 7}, headers=headers)
    aws.server.faults.clear()
    assert first.status == 503  # the order exists, but the client cannot know
    (created,) = aws.items("OrdersTable")
    assert call("create", body={"bill": 7}, headers=headers).status == 409  # still in progress
    ddb = aws.client("dynamodb")
    table = aws.physical_id("IdempotencyTable")
    for record in aws.items("IdempotencyTable"):
        if "in_progress_expiration" in record:  # the first attempt's record, as if its invocation timed out
            ddb.update_item(
                TableName=table,
                Key={"id": {"S": record["id"]}},
                UpdateExpression="SET in_progress_expiration = :past",
                ExpressionAttributeValues={":past": {"N": "1"}},
            )
    again = call("create", body={"bill": 7}, headers=headers)
    assert again.status == 201, again.body
    assert again.body["data"]["id"] == created["orderId"]
    assert [i["orderId"] for i in aws.items("OrdersTable")] == [created["orderId"]]
