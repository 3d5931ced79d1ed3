"""A user sees only their own orders and payments; the documentation routes need no token."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest
import requests

from tests.e2e.conftest import Api
from tests.e2e.support import GOOD_CARD, HTTP_TIMEOUT, Client, is_problem

pytestmark = pytest.mark.e2e

UNKNOWN = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def same_as_unknown(theirs: requests.Response, unknown: requests.Response, their_id: str) -> None:
    body = is_problem(theirs, 404)
    ref = is_problem(unknown, 404)
    assert body["title"] == ref["title"] and body["type"] == ref["type"], (body, ref)
    assert body.get("detail", "").replace(their_id, UNKNOWN) == ref.get("detail", ""), (body, ref)
    assert set(body) == set(ref), (body, ref)


def test_another_users_order_is_404_exactly_as_unknown(alice: Client, bob: Client) -> None:
    order = alice.order_with_pending_payment()
    oid = order["id"]

    same_as_unknown(bob.get(f"/orders/{oid}"), bob.get(f"/orders/{UNKNOWN}"), oid)
    same_as_unknown(bob.delete(f"/orders/{oid}"), bob.delete(f"/orders/{UNKNOWN}"), oid)
    same_as_unknown(bob.payment_response(oid), bob.payment_response(UNKNOWN), oid)
    same_as_unknown(bob.pay(oid, GOOD_CARD), bob.pay(UNKNOWN, GOOD_CARD), oid)

    # nothing happened to alice's order
    assert alice.order(oid)["status"] == "created"
    assert alice.payment(oid)["status"] == "pending"
    assert alice.pay(oid, GOOD_CARD).status_code == 200


def test_lists_show_only_own_items(api: Api) -> None:
    alice, bob = api.client(), api.client()
    a = alice.order_with_pending_payment()["id"]
    b = bob.order_with_pending_payment()["id"]

    assert [o["id"] for o in alice.all_items("orders")] == [a]
    assert [o["id"] for o in bob.all_items("orders")] == [b]
    assert [p["orderId"] for p in alice.all_items("payments")] == [a]
    assert [p["orderId"] for p in bob.all_items("payments")] == [b]


def test_fixed_users_do_not_see_each_other(alice: Client, bob: Client) -> None:
    a = alice.create_order()["id"]
    b = bob.create_order()["id"]
    assert a not in {o["id"] for o in bob.get("/orders", params={"limit": 100}).json()["data"]}
    assert b not in {o["id"] for o in alice.get("/orders", params={"limit": 100}).json()["data"]}


def test_openapi_document_needs_no_token(api: Api) -> None:
    r = api.anonymous().get("/openapi.json")

    assert r.status_code == 200, r.text
    assert "json" in r.headers["Content-Type"]
    doc = r.json()
    assert str(doc.get("openapi", "")).startswith("3"), doc.keys()
    paths = doc["paths"]
    for path, methods in {
        "/orders": {"get", "post"},
        "/orders/{orderId}": {"get", "delete"},
        "/payments": {"get"},
        "/payments/{orderId}": {"get"},
        "/payments/pay/{orderId}": {"post"},
    }.items():
        assert path in paths, sorted(paths)
        assert methods <= set(paths[path]), (path, paths[path].keys())
    with_junk_token = api.client(authorization="garbage").get("/openapi.json")
    assert with_junk_token.status_code == 200, "documentation ignores the Authorization header"
    schemes = doc["components"]["securitySchemes"]
    assert any(s.get("type") == "http" and s.get("scheme", "").lower() == "bearer" for s in schemes.values())


def test_docs_serve_swagger_ui_offline_without_token(api: Api) -> None:
    r = api.anonymous().get("/docs")

    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/html")
    html = r.text
    assert "swagger" in html.lower()
    # working offline: every script and stylesheet comes from the API itself
    assets = re.findall(r"""(?:src|href)=["']([^"']+\.(?:js|css))["']""", html)
    assert all(not a.startswith(("http://", "https://", "//")) for a in assets), assets
    for asset in assets:
        got = requests.get(urljoin(api.base_url + "/docs", asset), timeout=HTTP_TIMEOUT)
        assert got.status_code == 200, (asset, got.status_code)
