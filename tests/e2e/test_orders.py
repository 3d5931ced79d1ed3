"""Orders routes: create, validation, idempotency, list and pagination, get, cancel."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urljoin

import pytest

from tests.e2e.conftest import Api
from tests.e2e.support import ORDER_STATUSES, Client, is_problem, parse_time

pytestmark = pytest.mark.e2e


def test_create_order_returns_201_with_location_and_created_order(alice: Client) -> None:
    r = alice.post("/orders", {"bill": 2000})

    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    order = r.json()["data"]
    assert set(order) == {"id", "userId", "bill", "status", "createdAt", "updatedAt"}
    assert order["status"] == "created"
    assert order["bill"] == 2000
    assert isinstance(order["id"], str) and order["id"]
    if alice.user:
        assert order["userId"] == alice.user
    parse_time(order["createdAt"])
    parse_time(order["updatedAt"])
    assert r.headers["Location"].endswith(f"/orders/{order['id']}")
    assert urljoin(r.url, r.headers["Location"]) == f"{alice.base_url}/orders/{order['id']}"
    assert alice.order(order["id"]) == order


@pytest.mark.parametrize("bill", [0.01, 1, 19.99, 1_000_000])
def test_bill_bounds_and_two_decimals_are_accepted(alice: Client, bill: float) -> None:
    assert alice.create_order(bill)["bill"] == bill


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("{}", "bill"),
        ('{"bill": "2000"}', "bill"),
        ('{"bill": true}', "bill"),
        ('{"bill": false}', "bill"),
        ('{"bill": null}', "bill"),
        ('{"bill": [2000]}', "bill"),
        ('{"bill": -5}', "bill"),
        ('{"bill": 0}', "bill"),
        ('{"bill": 1000000.01}', "bill"),
        ('{"bill": NaN}', "bill"),
        ('{"bill": Infinity}', "bill"),
        ('{"bill": 1e400}', "bill"),
        ('{"bill": 10.001}', "bill"),
        ('{"bill": 2000, "tip": 5}', "tip"),
    ],
)
def test_bad_bill_is_422_naming_the_field(alice: Client, raw: str, field: str) -> None:
    r = alice.request("POST", "/orders", body=raw)

    body = is_problem(r, 422)
    assert any(str(e.get("field", "")).endswith(field) for e in body.get("errors", [])), body


@pytest.mark.parametrize(
    "raw",
    [
        '{"bill": 10.0000000000000001}',  # 16 decimals: a float parser silently makes it 10
        '{"bill": 1000000.00000000001}',  # above the maximum, but 1000000.0 as a float
        '{"bill": 0.010000000000000001}',  # 18 decimals, 0.01 as a float
        '{"bill": 1.0000000000000000000000000001}',  # 28 decimals: Decimal.normalize() made it 1
        '{"bill": ' + "1" * 5000 + "}",  # past Python's int digit limit: was a 500
        '{"bill": 2000, "tip": ' + "9" * 5000 + "}",
    ],
    ids=["16 decimals", "above the maximum", "18 decimals", "28 decimals", "5000 digits", "5000-digit extra"],
)
def test_bill_is_validated_as_written_not_after_float_rounding(alice: Client, raw: str) -> None:
    r = alice.request("POST", "/orders", body=raw)
    body = is_problem(r, 422)
    field = "tip" if "tip" in raw else "bill"
    assert any(str(e.get("field", "")).endswith(field) for e in body.get("errors", [])), body


@pytest.mark.parametrize("raw", ["not json", '{"bill": 2000', "{'bill': 2000}", "bill=2000", "\xff\xfe"])
def test_body_that_is_not_json_is_400(alice: Client, raw: str) -> None:
    is_problem(alice.request("POST", "/orders", body=raw), 400)


def test_empty_body_is_422_naming_the_body(alice: Client) -> None:
    # API Gateway passes an empty body as null: no body, rather than a body that is not JSON.
    body = is_problem(alice.request("POST", "/orders", body=""), 422)
    assert [e["field"] for e in body["errors"]] == ["body"], body


def test_rejected_bodies_create_no_order(fresh: Client) -> None:
    for raw in ('{"bill": -1}', '{"bill": NaN}', "nope"):
        assert fresh.request("POST", "/orders", body=raw).status_code in (400, 422)
    assert fresh.all_items("orders") == []


def test_idempotency_key_replays_the_same_order(fresh: Client) -> None:
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    first = fresh.post("/orders", {"bill": 42.5}, headers=key)
    again = fresh.post("/orders", {"bill": 42.5}, headers=key)

    assert first.status_code == 201, first.text
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert [o["id"] for o in fresh.all_items("orders")] == [first.json()["data"]["id"]]


def test_idempotency_key_with_a_different_body_is_409(fresh: Client) -> None:
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    first = fresh.post("/orders", {"bill": 10}, headers=key)
    assert first.status_code == 201, first.text

    is_problem(fresh.post("/orders", {"bill": 11}, headers=key), 409)
    assert [o["id"] for o in fresh.all_items("orders")] == [first.json()["data"]["id"]]


def test_idempotency_keys_belong_to_their_user(alice: Client, bob: Client) -> None:
    key = {"Idempotency-Key": f"shared-{uuid.uuid4()}"}
    a = alice.post("/orders", {"bill": 10}, headers=key)
    b = bob.post("/orders", {"bill": 10}, headers=key)

    assert a.status_code == b.status_code == 201, (a.text, b.text)
    assert a.json()["data"]["id"] != b.json()["data"]["id"]
    assert b.json()["data"]["userId"] != a.json()["data"]["userId"]


@pytest.mark.parametrize("key", ["k" * 129, "", "caf\u00e9", "tab\tkey"])
def test_invalid_idempotency_key_is_rejected_and_creates_nothing(fresh: Client, key: str) -> None:
    r = fresh.request("POST", "/orders", body='{"bill": 1}', headers={"Idempotency-Key": key})
    body = is_problem(r, 400)  # a header parameter: 400, as an invalid query or path parameter
    assert "idempotency-key" in json.dumps(body).lower(), body
    assert fresh.all_items("orders") == []


def test_longest_idempotency_key_is_honoured(fresh: Client) -> None:
    key = {"Idempotency-Key": "k" * 120 + uuid.uuid4().hex[:8]}
    first = fresh.post("/orders", {"bill": 3}, headers=key)
    again = fresh.post("/orders", {"bill": 3}, headers=key)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.json()["data"]["id"] == first.json()["data"]["id"]


def test_different_idempotency_keys_make_different_orders(alice: Client) -> None:
    a = alice.create_order(5, headers={"Idempotency-Key": f"k-{uuid.uuid4()}"})
    b = alice.create_order(5, headers={"Idempotency-Key": f"k-{uuid.uuid4()}"})
    assert a["id"] != b["id"]


def test_list_orders_is_newest_first_with_default_limit_20(fresh: Client) -> None:
    created = [fresh.create_order(bill) for bill in range(1, 23)]

    r = fresh.get("/orders")
    assert r.status_code == 200, r.text
    page = r.json()
    assert set(page) == {"data", "nextToken"}
    assert [o["id"] for o in page["data"]] == [o["id"] for o in reversed(created)][:20]
    assert isinstance(page["nextToken"], str) and page["nextToken"]
    assert all(o["status"] in ORDER_STATUSES for o in page["data"])

    rest = fresh.get("/orders", params={"nextToken": page["nextToken"]})
    assert rest.status_code == 200, rest.text
    assert [o["id"] for o in rest.json()["data"]] == [created[1]["id"], created[0]["id"]]
    assert rest.json()["nextToken"] is None


def test_order_ids_sort_by_creation_time(alice: Client) -> None:
    ids = [alice.create_order()["id"] for _ in range(5)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5


def test_pagination_chains_with_next_token(fresh: Client) -> None:
    created = [fresh.create_order(bill)["id"] for bill in range(1, 8)]

    pages = [p.json() for p in fresh.pages("orders", limit=3)]

    assert [len(p["data"]) for p in pages] in ([3, 3, 1], [3, 3, 1, 0])
    assert [o["id"] for p in pages for o in p["data"]] == created[::-1]
    assert pages[-1]["nextToken"] is None
    assert all(p["nextToken"] for p in pages[:-1])


@pytest.mark.parametrize("limit", [1, 100])
def test_limit_bounds_are_accepted(fresh: Client, limit: int) -> None:
    created = [fresh.create_order()["id"] for _ in range(2)]
    r = fresh.get("/orders", params={"limit": limit})
    assert r.status_code == 200, r.text
    assert [o["id"] for o in r.json()["data"]] == created[::-1][:limit]


def test_empty_list(fresh: Client) -> None:
    r = fresh.get("/orders")
    assert r.status_code == 200, r.text
    assert r.json() == {"data": [], "nextToken": None}


@pytest.mark.parametrize("collection", ["orders", "payments"])
@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "-1"},
        {"limit": "abc"},
        {"limit": "1.5"},
        {"limit": ""},
        {"limit": "99999999999999999999999"},
        {"nextToken": "garbage"},
        {"nextToken": "eyJ4IjoxfQ=="},
        {"nextToken": "%%%"},
        {"nextToken": "x" * 5000},
        {"nextToken": "eyJvcmRlcklkIjogMX0"},
        {"nextToken": "eyJvcmRlcklkIjoiWiIsInVzZXJJZCI6ImV2ZSJ9"},
    ],
)
def test_bad_limit_or_next_token_is_400_never_500(alice: Client, collection: str, params: dict[str, str]) -> None:
    is_problem(alice.get(f"/{collection}", params=params), 400)  # query parameters: 400 (a bad body is 422)


def test_next_token_of_another_user_does_not_leak_their_orders(fresh: Client, api: Api) -> None:
    for _ in range(3):
        fresh.create_order()
    token = fresh.get("/orders", params={"limit": 1}).json()["nextToken"]
    other = api.client()

    r = other.get("/orders", params={"nextToken": token})

    assert r.status_code in (200, 400, 422), r.text
    if r.status_code == 200:
        assert r.json()["data"] == []


def test_get_order_200_and_unknown_404(alice: Client) -> None:
    order = alice.create_order(77)
    r = alice.get(f"/orders/{order['id']}")
    assert r.status_code == 200, r.text
    got = r.json()["data"]
    assert (got["id"], got["bill"], got["userId"], got["createdAt"]) == (
        order["id"],
        77,
        order["userId"],
        order["createdAt"],
    )

    is_problem(alice.get("/orders/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404)
    is_problem(alice.get("/orders/does-not-exist"), 404)


def test_cancel_created_order_then_again_is_a_no_op(alice: Client) -> None:
    order = alice.create_order()

    first = alice.delete(f"/orders/{order['id']}")
    assert first.status_code == 200, first.text
    assert first.json()["data"]["status"] == "cancelled"
    assert first.json()["data"]["id"] == order["id"]

    again = alice.delete(f"/orders/{order['id']}")
    assert again.status_code == 200, again.text
    assert again.json()["data"] == first.json()["data"], "a no-op changes nothing, updatedAt included"
    assert alice.order(order["id"])["status"] == "cancelled"


@pytest.mark.parametrize("order_id", ["x" * 3000, "%20", "..", "01ARZ3NDEKTSV4RRFFQ69G5FAV%00"])
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_odd_order_ids_are_4xx_never_500(alice: Client, method: str, order_id: str) -> None:
    for path in (f"/orders/{order_id}", f"/payments/{order_id}"):
        r = alice.request(method if path.startswith("/orders") else "GET", path)
        assert r.status_code in (400, 404), (path[:60], r.status_code, r.text[:300])
        is_problem(r, r.status_code)


def test_cancel_unknown_order_is_404(alice: Client) -> None:
    is_problem(alice.delete("/orders/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404)
