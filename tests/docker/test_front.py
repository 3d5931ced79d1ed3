"""What the front adds to ``sam local start-api``: the contract's base URL and gateway answers."""

from __future__ import annotations

import requests

from devstack import LocalStack


def get(stack: LocalStack, path: str, **headers: str) -> requests.Response:
    return requests.get(f"{stack.base_url}{path}", headers=headers, timeout=60)


def assert_problem(resp: requests.Response, status: int) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json()["status"] == status


def test_a_refused_token_is_401_not_sam_locals_502(docker_stack: LocalStack):
    resp = get(docker_stack, "/orders", Authorization="Bearer not-a-jwt")
    assert_problem(resp, 401)
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    expired = docker_stack.token("alice", ttl=-120)
    assert_problem(get(docker_stack, "/orders", Authorization=f"Bearer {expired}"), 401)


def test_a_missing_token_is_the_templates_401(docker_stack: LocalStack):
    assert_problem(get(docker_stack, "/orders"), 401)


def test_routes_live_under_the_stage_prefix(docker_stack: LocalStack):
    token = docker_stack.token("alice")
    assert docker_stack.base_url.endswith("/api")
    assert get(docker_stack, "/orders", Authorization=f"Bearer {token}").status_code == 200
    root = docker_stack.base_url.removesuffix("/api")
    assert_problem(requests.get(f"{root}/orders", headers={"Authorization": f"Bearer {token}"}, timeout=60), 404)
    assert_problem(get(docker_stack, "/no-such-route", Authorization=f"Bearer {token}"), 404)


def test_the_legacy_token_is_user_demo(docker_stack: LocalStack):
    created = requests.post(
        f"{docker_stack.base_url}/orders",
        json={"bill": 12.5},
        headers={"Authorization": "thisisajwttoken"},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    assert created.json()["data"]["userId"] == "demo"
    listed = get(docker_stack, "/orders", Authorization="thisisajwttoken")
    assert created.json()["data"]["id"] in {o["id"] for o in listed.json()["data"]}


def test_each_request_has_its_own_correlation_id(docker_stack: LocalStack):
    token = docker_stack.token("alice")
    first = get(docker_stack, "/orders", Authorization=f"Bearer {token}")
    second = get(docker_stack, "/orders", Authorization=f"Bearer {token}")
    ids = {first.headers["X-Correlation-Id"], second.headers["X-Correlation-Id"]}
    assert len(ids) == 2
    assert first.headers["X-Correlation-Id"] == first.headers["x-amzn-RequestId"]
    mine = get(docker_stack, "/orders", Authorization=f"Bearer {token}", **{"X-Correlation-Id": "trace-me-1"})
    assert mine.headers["X-Correlation-Id"] == "trace-me-1"


def test_a_body_over_10_mb_is_413(docker_stack: LocalStack):
    resp = requests.post(
        f"{docker_stack.base_url}/orders",
        data=b"x" * (10 * 1024 * 1024 + 1),
        headers={"Authorization": f"Bearer {docker_stack.token('alice')}"},
        timeout=60,
    )
    assert_problem(resp, 413)


def test_documentation_needs_no_token(docker_stack: LocalStack):
    assert get(docker_stack, "/openapi.json").json()["openapi"].startswith("3.")
    assert "swagger" in get(docker_stack, "/docs").text.lower()


def test_the_docs_page_with_a_trailing_slash_redirects_as_deployed(docker_stack: LocalStack):
    # The path reaches the function as sent, so /api/docs/ is sent to /api/docs, not served blank.
    moved = requests.get(f"{docker_stack.base_url}/docs/", allow_redirects=False, timeout=60)
    assert moved.status_code == 301, moved.text
    assert moved.headers["Location"] == "../docs"
    assert "swagger" in requests.get(f"{docker_stack.base_url}/docs/", timeout=60).text.lower()


# The held-out "hostile bodies never 5xx" bodies (issue 19): over make run every one is a 4xx; here too.
HOSTILE_BODIES = {
    "empty": b"",
    "null": b"null",
    "empty array": b"[]",
    "float overflow": b"1e309",
    "NaN": b"NaN",
    "NUL and a lone surrogate": '"\x00\ud800"'.encode("utf-8", "surrogatepass"),  # not UTF-8
    "5,000 nested brackets": b"[" * 5000 + b"]" * 5000,
    "900 KB string": b'"' + b"x" * 900_000 + b'"',
}


def test_hostile_bodies_are_4xx_in_the_lambda_runtime(docker_stack: LocalStack):
    headers = {"Authorization": f"Bearer {docker_stack.token('alice')}", "Content-Type": "application/json"}
    order = requests.post(f"{docker_stack.base_url}/orders", json={"bill": 3}, headers=headers, timeout=60)
    assert order.status_code == 201, order.text
    for path in ("/orders", f"/payments/pay/{order.json()['data']['id']}"):
        for name, body in HOSTILE_BODIES.items():
            resp = requests.post(f"{docker_stack.base_url}{path}", data=body, headers=headers, timeout=120)
            assert 400 <= resp.status_code < 500, (path, name, resp.status_code, resp.text[:300])
            assert resp.headers["Content-Type"] == "application/problem+json", (path, name)
