"""Bad tokens never pass; one user never reaches another's order through any route."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from devstack import LocalStack
from tests.resilience.support import RECEIVED, Api, Seen, card_body, user_api

PROFILE = settings.get_profile("resilience")
SETTLE_EACH_TEST = False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict[str, object], header: dict[str, object]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def _bad_tokens(stack: LocalStack) -> dict[str, str]:
    secret = stack.jwt_secret
    now = int(time.time())
    good = {"sub": "victim", "iat": now, "exp": now + 3600}
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    valid = stack.token("victim")
    head, payload, sig = valid.split(".")
    return {
        "random bytes": _b64(b"\x00\xff" * 40),
        "truncated": valid[:-10],
        "no signature": f"{head}.{payload}.",
        "two parts": f"{head}.{payload}",
        "signature of another token": f"{head}.{payload}.{stack.token('other').split('.')[2]}",
        "payload swapped": f"{head}.{_b64(json.dumps({**good, 'sub': 'admin'}).encode())}.{sig}",
        "other secret HS256": jwt.encode(good, "not-the-secret-" * 4, algorithm="HS256"),
        "HS384 with the secret": jwt.encode(good, secret, algorithm="HS384"),
        "HS512 with the secret": jwt.encode(good, secret, algorithm="HS512"),
        "RS256 other key": jwt.encode(good, rsa_key, algorithm="RS256"),
        "alg none": _unsigned(good, {"alg": "none", "typ": "JWT"}),
        "alg None": _unsigned(good, {"alg": "None"}) + "x",
        "expired by one second": jwt.encode({**good, "exp": now - 1}, secret, algorithm="HS256"),
        "nbf in the future": jwt.encode({**good, "nbf": now + 600}, secret, algorithm="HS256"),
        "iat in the future": jwt.encode({**good, "iat": now + 3600, "nbf": now + 3600}, secret, algorithm="HS256"),
        "missing sub": jwt.encode({"iat": now, "exp": now + 3600}, secret, algorithm="HS256"),
        "empty sub": jwt.encode({**good, "sub": ""}, secret, algorithm="HS256"),
        "numeric sub": jwt.encode({**good, "sub": 12345}, secret, algorithm="HS256"),
        "missing exp": jwt.encode({"sub": "victim", "iat": now}, secret, algorithm="HS256"),
        "exp not a number": jwt.encode({**good, "exp": "tomorrow"}, secret, algorithm="HS256"),
        "huge": jwt.encode({**good, "pad": "x" * 20000}, secret, algorithm="HS256"),
        "huge sub": jwt.encode({**good, "sub": "v" * 5000}, secret, algorithm="HS256"),
        "bearer only": "Bearer",
        "empty": "",
        "two tokens": f"{valid} {valid}",
        "basic scheme": f"Basic {valid}",
    }


def _routes(order_id: str) -> list[tuple[str, str, dict[str, object] | None]]:
    return [
        ("GET", "/orders", None),
        ("POST", "/orders", {"bill": 5}),
        ("GET", f"/orders/{order_id}", None),
        ("DELETE", f"/orders/{order_id}", None),
        ("GET", "/payments", None),
        ("GET", f"/payments/{order_id}", None),
        ("POST", f"/payments/pay/{order_id}", card_body()),
    ]


def _call(stack: LocalStack, method: str, path: str, body: object, authorization: str | None) -> requests.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    resp = requests.request(method, stack.base_url + path, json=body, headers=headers, timeout=30)
    RECEIVED.append(Seen(method, path, resp.status_code, dict(resp.headers), resp.text))
    return resp


def _assert_401(resp: requests.Response) -> None:
    assert resp.status_code == 401, (resp.status_code, resp.text[:200])
    assert resp.headers["Content-Type"].startswith("application/problem+json")


@pytest.fixture(scope="module")
def victim(stack: LocalStack) -> tuple[Api, str]:
    stack.faults.clear()
    api = Api(stack.base_url, stack.token("victim"))
    oid = api.create_id()
    stack.inspect.wait_idle(60)
    return api, oid


def test_generated_bad_tokens_never_pass(stack: LocalStack, victim: tuple[Api, str]):
    _, oid = victim
    for name, token in _bad_tokens(stack).items():
        for auth in (f"Bearer {token}", token):
            for method, path, body in _routes(oid):
                resp = _call(stack, method, path, body, auth)
                assert resp.status_code == 401, (name, method, path, resp.status_code, resp.text[:200])
                _assert_401(resp)
    for method, path, body in _routes(oid):
        _assert_401(_call(stack, method, path, body, None))
    stack.inspect.wait_idle(60)
    api, _ = victim
    orders = api.request("GET", "/orders").json()["data"]
    assert [(o["id"], o["status"]) for o in orders] == [(oid, "created")]  # nothing got through
    assert api.payment(oid).json()["data"]["status"] == "pending"


@settings(PROFILE, max_examples=25)
@given(
    token=st.one_of(
        st.text(min_size=0, max_size=300),
        st.from_regex(r"[A-Za-z0-9_-]{1,60}\.[A-Za-z0-9_-]{1,200}\.[A-Za-z0-9_-]{0,90}", fullmatch=True),
        st.binary(max_size=200).map(_b64),
    )
)
def test_random_strings_are_never_a_token(stack: LocalStack, token: str):
    auth = f"Bearer {token}"
    try:
        resp = _call(stack, "GET", "/orders", None, auth)
    except (ValueError, requests.exceptions.InvalidHeader):
        return  # not even sendable as a header
    _assert_401(resp)


def test_one_user_never_reaches_anothers_order(stack: LocalStack):
    alice, mallory = user_api(stack, "alice"), user_api(stack, "mallory")
    created = alice.create_id()
    paid = alice.create_id()
    stack.inspect.wait_idle(60)
    assert alice.pay(paid).status_code == 200
    stack.inspect.wait_idle(60)
    for oid in (created, paid):
        assert mallory.order(oid).status_code == 404
        assert mallory.payment(oid).status_code == 404
        assert mallory.cancel(oid).status_code == 404
        assert mallory.pay(oid).status_code == 404
        nf_other = mallory.order(oid).json()
        nf_none = mallory.order("01JD0000000000000000000000").json()
        assert nf_other["title"] == nf_none["title"] and nf_other["status"] == nf_none["status"]
    assert mallory.request("GET", "/orders").json()["data"] == []
    assert mallory.request("GET", "/payments").json()["data"] == []
    # A nextToken minted from alice's listing names only a sort key: in mallory's partition it finds nothing.
    page = alice.request("GET", "/orders", params={"limit": 1}).json()
    assert page["nextToken"]
    stolen = mallory.request("GET", "/orders", params={"limit": 1, "nextToken": page["nextToken"]})
    assert stolen.status_code == 200 and stolen.json()["data"] == []
    stack.inspect.wait_idle(60)
    assert alice.order(created).json()["data"]["status"] == "created"
    assert alice.payment(created).json()["data"]["status"] == "pending"
    assert alice.order(paid).json()["data"]["status"] == "delivered"


def test_a_token_that_expires_while_its_allow_is_cached_is_refused(stack: LocalStack):
    """AuthorizerCacheTtlSeconds is 300 here: the gateway's clock moves past the token's exp, not the cache's."""
    token = stack.token("expiring", ttl=60)

    def authorizer_runs() -> int:
        return sum(i.trigger == "authorizer" for i in stack.invocations)

    assert _call(stack, "GET", "/orders", None, f"Bearer {token}").status_code == 200
    runs = authorizer_runs()
    assert stack.gateway is not None
    real_clock = stack.gateway.clock
    stack.gateway.clock = lambda: real_clock() + 120
    try:
        for method, body in [("GET", None), ("POST", {"bill": "not a number"}), ("POST", {"bill": 5})]:
            refused = _call(stack, method, "/orders", body, f"Bearer {token}")
            _assert_401(refused)
            assert refused.json()["detail"] == "A valid bearer token is required."
    finally:
        stack.gateway.clock = real_clock
    assert authorizer_runs() == runs  # every refusal came from behind the cached Allow
    assert Api(stack.base_url, token).request("GET", "/orders").json()["data"] == []  # nothing was created


def test_the_local_stack_checks_no_issuer_so_a_token_of_sub_and_exp_works(stack: LocalStack):
    """Deploys must name JwtIssuer (template Rules); the local stack leaves it empty, as docs/deploy.md says."""
    assert stack.model.functions["AuthorizerFunction"].env["JWT_ISSUER"] == ""
    bare = jwt.encode({"sub": "bare-claims", "exp": int(time.time()) + 600}, stack.jwt_secret, algorithm="HS256")
    assert _call(stack, "GET", "/orders", None, f"Bearer {bare}").status_code == 200
    issued = jwt.encode({"sub": "bare-claims", "exp": int(time.time()) + 600, "iss": "anyone"}, stack.jwt_secret)
    assert _call(stack, "GET", "/orders", None, f"Bearer {issued}").status_code == 200
