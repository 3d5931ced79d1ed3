"""Hostile input: whatever the body, path or query, never a 5xx, and errors are problem+json."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests

from devstack import LocalStack
from tests.resilience.support import RECEIVED, Api, Seen, check_invariants, user_api

NESTED = "[" * 5000 + "]" * 5000
BODIES: list[tuple[str, bytes | str, str]] = [
    ("empty", b"", "application/json"),
    ("null", "null", "application/json"),
    ("1 MB", '{"bill": 1, "pad": "' + "x" * (1024 * 1024) + '"}', "application/json"),
    ("5000-level nesting", NESTED, "application/json"),
    ("5000-level objects", '{"a":' * 5000 + "1" + "}" * 5000, "application/json"),
    ("NaN", '{"bill": NaN}', "application/json"),
    ("Infinity", '{"bill": Infinity}', "application/json"),
    ("-Infinity", '{"bill": -Infinity}', "application/json"),
    ("huge number", '{"bill": 1e999999}', "application/json"),
    ("5000-digit integer", '{"bill": ' + "1" * 5000 + "}", "application/json"),
    ("multipart without boundary", "--x\r\n", "multipart/form-data"),
    ("invalid UTF-8", b'{"bill": "\xff\xfe\xc3\x28"}', "application/json"),
    ("lone surrogate", '{"bill": "\\ud800"}', "application/json"),
    ("text/plain", '{"bill": 10}', "text/plain"),
    ("form", "bill=10", "application/x-www-form-urlencoded"),
    ("xml", "<bill>10</bill>", "application/xml"),
    ("no content type", '{"bill": 10}', ""),
    ("array", "[1, 2, 3]", "application/json"),
    ("string", '"bill"', "application/json"),
    ("duplicate keys", '{"bill": 10, "bill": -1}', "application/json"),
    ("nul byte", '{"bill": 10, "x": "\\u0000"}', "application/json"),
]
PAY_BODIES = [
    *BODIES,
    ("card null", '{"creditCardDetails": null}', "application/json"),
    (
        "5000-digit cvt",
        '{"creditCardDetails": {"number": "4242424242424242", "cvt": ' + "1" * 5000 + ', "expiry": "12/30"}}',
        "application/json",
    ),
    ("card nested", '{"creditCardDetails": {"number": {"number": "4242424242424242"}}}', "application/json"),
    (
        "card huge",
        '{"creditCardDetails": {"number": "' + "4" * 100000 + '", "cvt": 1, "expiry": "1/1"}}',
        "application/json",
    ),
]


def assert_sane(resp: requests.Response, allowed: set[int] | None = None) -> None:
    assert resp.status_code < 500, (resp.status_code, resp.text[:300])
    if allowed is not None:
        assert resp.status_code in allowed, (resp.status_code, resp.text[:300])
    if resp.status_code >= 400:
        assert resp.headers.get("Content-Type", "").startswith("application/problem+json"), resp.headers
        problem = resp.json()
        assert problem["status"] == resp.status_code
        assert {"type", "title", "status"} <= set(problem)
        assert "Traceback" not in resp.text


def raw(api: Api, method: str, path: str, body: bytes | str = b"", ctype: str = "", **kw: object) -> requests.Response:
    headers = {"Authorization": f"Bearer {api.token}"}
    if ctype:
        headers["Content-Type"] = ctype
    data = body.encode() if isinstance(body, str) else body
    resp = requests.request(method, api.base_url + path, data=data, headers=headers, timeout=60, **kw)  # type: ignore[arg-type]
    RECEIVED.append(Seen(method, path, resp.status_code, dict(resp.headers), resp.text))
    return resp


# Stateless requests: the stack is settled (and its invariants checked) once for the module.
SETTLE_EACH_TEST = False


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Iterator[Api]:
    stack.faults.clear()
    stack.inspect.wait_idle(60)
    yield user_api(stack, "hostile")
    stack.inspect.wait_idle(60)
    check_invariants(stack)


@pytest.fixture(scope="module")
def order_id(stack: LocalStack, api: Api) -> str:
    oid = api.create_id()
    stack.inspect.wait_idle(60)
    return oid


@pytest.mark.parametrize(("name", "body", "ctype"), BODIES, ids=[b[0] for b in BODIES])
def test_create_order_with_hostile_bodies(api: Api, name: str, body: bytes | str, ctype: str):
    resp = raw(api, "POST", "/orders", body, ctype)
    # A valid JSON body without any Content-Type is accepted (lenient, as API Gateway passes it on).
    assert_sane(resp, {400, 413, 415, 422} | ({201} if name == "no content type" else set()))


@pytest.mark.parametrize(("name", "body", "ctype"), PAY_BODIES, ids=[b[0] for b in PAY_BODIES])
def test_pay_with_hostile_bodies(api: Api, order_id: str, name: str, body: bytes | str, ctype: str):
    resp = raw(api, "POST", f"/payments/pay/{order_id}", body, ctype)
    assert_sane(resp, {400, 413, 415, 422})
    assert api.payment(order_id).json()["data"]["status"] == "pending"


ODD_IDS = [
    "a%2Fb",
    "..%2F..%2Forders",
    "%2E%2E",
    "..",
    quote("ünïcödé-🧾"),
    "x" * 2048,
    "%00",
    "%ff%fe",
    quote("' OR '1'='1"),
    quote('{"S": "x"}'),
    "%20",
    "a;b",
    quote("<script>"),
]


@pytest.mark.parametrize("oid", ODD_IDS, ids=range(len(ODD_IDS)))
@pytest.mark.parametrize(
    ("method", "template"),
    [("GET", "/orders/{}"), ("DELETE", "/orders/{}"), ("GET", "/payments/{}"), ("POST", "/payments/pay/{}")],
)
def test_odd_path_ids_are_never_a_server_error(api: Api, method: str, template: str, oid: str):
    body = '{"creditCardDetails": {"number": "4242424242424242", "cvt": 123, "expiry": "12/30"}}'
    resp = raw(api, method, template.format(oid), body if method == "POST" else b"", "application/json")
    assert_sane(resp, {400, 404, 405, 414, 422})


QUERIES = [
    "limit=0",
    "limit=-1",
    "limit=101",
    "limit=abc",
    "limit=1e3",
    "limit=" + "9" * 400,
    "limit=1&limit=2",
    "limit=1&limit=x",
    "nextToken=",
    "nextToken=%00",
    "nextToken=" + "A" * 4000,
    "nextToken=eyJrIjoxfQ",  # a token naming no sort key
    "nextToken=eyJrIjoiIn0",
    "nextToken=W10",
    "nextToken=..%2F..",
    "&".join(f"p{i}=1" for i in range(500)),
    "limit[]=1",
    "limit=%F0%9F%A7%BE",
]


@pytest.mark.parametrize("query", QUERIES, ids=range(len(QUERIES)))
@pytest.mark.parametrize("path", ["/orders", "/payments"])
def test_absurd_query_strings_are_never_a_server_error(api: Api, path: str, query: str):
    resp = raw(api, "GET", f"{path}?{query}")
    assert_sane(resp, {200, 400, 414, 422})


def test_idempotency_key_abuse_is_never_a_server_error(api: Api):
    for key in [" ", "k" * 129, "k" * 5000, "\x7f", "é"]:
        try:
            resp = requests.post(
                api.base_url + "/orders",
                json={"bill": 10},
                headers={"Authorization": f"Bearer {api.token}", "Idempotency-Key": key},
                timeout=30,
            )
        except (ValueError, requests.exceptions.InvalidHeader):
            continue  # the client itself refuses to send it
        assert_sane(resp, {400, 422})


@pytest.mark.parametrize(
    "ctype", ["Application/JSON", "APPLICATION/JSON; charset=UTF-8", "application/json;charset=utf-8"]
)
def test_media_types_are_case_insensitive_through_the_gateway(api: Api, ctype: str):
    assert raw(api, "POST", "/orders", '{"bill": 10}', ctype).status_code == 201
