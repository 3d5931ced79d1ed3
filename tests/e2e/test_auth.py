"""Authentication: every refusal is a 401 problem; the accepted header forms; the legacy demo token."""

from __future__ import annotations

import time

import pytest
import requests

from tests.e2e.conftest import Api
from tests.e2e.support import Client, hs256, is_problem, unique_user, unsigned

pytestmark = pytest.mark.e2e

UNKNOWN = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
ROUTES = [
    ("GET", "/orders"),
    ("POST", "/orders"),
    ("GET", f"/orders/{UNKNOWN}"),
    ("DELETE", f"/orders/{UNKNOWN}"),
    ("GET", "/payments"),
    ("GET", f"/payments/{UNKNOWN}"),
    ("POST", f"/payments/pay/{UNKNOWN}"),
]


def call(client: Client, method: str, path: str) -> requests.Response:
    body = {"bill": 1} if path == "/orders" else {"creditCardDetails": {}} if "pay" in path else None
    return client.request(method, path, body=body if method == "POST" else None)


def assert_401(r: requests.Response, token: str | None = None) -> None:
    is_problem(r, 401)
    if token:
        assert token not in r.text


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_a_token(api: Api, method: str, path: str) -> None:
    assert_401(call(api.anonymous(), method, path))


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer ",
        "garbage",
        "Bearer garbage",
        "Bearer a.b.c",
        "Bearer a.b",
        "Basic YWxpY2U6c2VjcmV0",
        "Bearer two tokens",
        "Bearer " + "a" * 9000,
    ],
)
def test_malformed_authorization_is_401(api: Api, header: str) -> None:
    r = api.client(authorization=header).get("/orders")
    assert_401(r, header if len(header) > 8 else None)


def test_expired_token_is_401(api: Api) -> None:
    token = api.mint(unique_user(), ttl=-10)
    assert_401(api.client(authorization=f"Bearer {token}").get("/orders"), token)


def test_token_signed_with_another_secret_is_401(api: Api) -> None:
    now = int(time.time())
    token = hs256("not-the-secret-" + "x" * 40, {"sub": unique_user(), "iat": now, "exp": now + 600})
    assert_401(api.client(authorization=f"Bearer {token}").get("/orders"), token)


def test_alg_none_token_is_401(api: Api) -> None:
    now = int(time.time())
    token = unsigned({"sub": unique_user(), "iat": now, "exp": now + 600})
    assert token.endswith(".")
    assert_401(api.client(authorization=f"Bearer {token}").get("/orders"), token)
    # and with a signature part glued on
    assert_401(api.client(authorization=f"Bearer {token}c2ln").get("/orders"))


def test_token_without_sub_is_401(api: Api) -> None:
    token = api.mint(None)
    assert_401(api.client(authorization=f"Bearer {token}").get("/orders"), token)


@pytest.mark.parametrize("sub", ["", 42])
def test_token_with_unusable_sub_is_401(api: Api, sub: object) -> None:
    token = api.mint(None, sub=sub)
    assert_401(api.client(authorization=f"Bearer {token}").get("/orders"), token)


def test_clocks_may_differ_by_60_seconds_on_iat_and_nbf(api: Api) -> None:
    now = int(time.time())
    ahead = api.mint(unique_user(), iat=now + 30, nbf=now + 30)  # a token from a clock 30 s ahead
    assert api.client(authorization=f"Bearer {ahead}").get("/orders").status_code == 200
    far_ahead = api.mint(unique_user(), iat=now + 600)
    assert_401(api.client(authorization=f"Bearer {far_ahead}").get("/orders"), far_ahead)


@pytest.mark.parametrize("sub", ["alice\u202egnp", "al\u200bice", "\ufeffalice", "alice\u2066"])
def test_token_whose_sub_hides_or_reorders_characters_is_401(api: Api, sub: str) -> None:
    token = api.mint(sub)
    assert_401(api.client(authorization=f"Bearer {token}").get("/orders"), token)


def test_token_without_exp_is_401(api: Api) -> None:
    token = api.mint(unique_user(), exp=None)
    assert_401(api.client(authorization=f"Bearer {token}").get("/orders"), token)


def test_tampered_payload_is_401(api: Api) -> None:
    token = api.mint(unique_user())
    header, _, signature = token.split(".")
    other = api.mint("someone-else").split(".")[1]
    forged = f"{header}.{other}.{signature}"
    assert_401(api.client(authorization=f"Bearer {forged}").get("/orders"), forged)


def test_bearer_and_bare_token_are_the_same_user(api: Api) -> None:
    user = unique_user()
    token = api.mint(user)
    with_scheme = api.client(authorization=f"Bearer {token}")
    bare = api.client(authorization=token)

    order = with_scheme.create_order(12)
    assert order["userId"] == user
    r = bare.get(f"/orders/{order['id']}")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["userId"] == user
    created = bare.create_order(13)
    assert created["userId"] == user


def test_fixed_tokens_work(alice: Client, bob: Client) -> None:
    assert alice.get("/orders").status_code == 200
    assert bob.get("/payments").status_code == 200


def test_legacy_fixed_token_is_user_demo_on_the_local_stack(api: Api) -> None:
    if not api.local:
        pytest.skip("the legacy token is accepted by the local stack only (API_URL is set)")
    demo = api.client(authorization="thisisajwttoken")

    order = demo.create_order(3)

    assert order["userId"] == "demo"
    assert demo.order(order["id"])["userId"] == "demo"
    assert demo.get("/payments").status_code == 200
    assert_401(api.client(authorization="thisisajwttokenX").get("/orders"))
