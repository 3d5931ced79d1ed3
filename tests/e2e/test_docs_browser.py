"""`/docs` in a real browser: headless Chromium renders every route and an authorized "Try it out" works.

Runs against the same target as the rest of tests/e2e (the local stack, or API_URL). On failure a
screenshot goes to .test-output/browser/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.e2e.conftest import ROOT, Api
from tests.support.browser import CHROMIUM_ARGS, BrowserUnavailableError, ensure_chromium, screenshot_dir

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 60_000
# Any violation of the page's Content-Security-Policy is recorded before the page's own scripts run.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""
LISTED_OPERATIONS = """
() => [...document.querySelectorAll(".opblock")].map((block) => [
  block.querySelector(".opblock-summary-method").textContent.trim().toLowerCase(),
  block.querySelector(".opblock-summary-path").getAttribute("data-path"),
])
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        executable = ensure_chromium()
    except BrowserUnavailableError as exc:
        pytest.fail(str(exc))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    yield page
    context.close()


# `/docs/` as well: its relative asset URLs once resolved under /docs/docs/ (a blank page); it redirects now.
@pytest.mark.parametrize("page_path", ["/docs", "/docs/"])
def test_docs_page_lists_every_route_and_try_it_out_works_with_a_token(api: Api, page: Any, page_path: str) -> None:
    try:
        _use_the_docs_page(api, page, page_path)
    except BaseException:
        shot = screenshot_dir(ROOT) / f"docs-page{page_path.replace('/', '-')}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failing page: {shot}")
        raise


def _use_the_docs_page(api: Api, page: Any, page_path: str) -> None:
    document = requests.get(f"{api.base_url}/openapi.json", timeout=30).json()
    expected = sorted((method, path) for path, ops in document["paths"].items() for method in ops)

    page.goto(f"{api.base_url}{page_path}")
    assert page.url == f"{api.base_url}/docs"
    # The routes, or Swagger UI's own verdict ("Unable to render this definition") without waiting for a timeout.
    page.wait_for_selector(".opblock-summary-path, .version-pragma, .errors-wrapper", state="attached")
    assert page.locator(".version-pragma").count() == 0, page.locator(".version-pragma").inner_text()
    assert sorted(tuple(op) for op in page.evaluate(LISTED_OPERATIONS)) == expected
    assert page.locator(".errors-wrapper").count() == 0, page.locator(".errors-wrapper").inner_text()

    token = api.mint("docs-browser-user") if api.can_mint else (api.fixed_tokens or {})["alice"]
    page.click("button.authorize")
    page.fill(".modal-ux input", token)
    page.click(".modal-ux .auth-btn-wrapper button.authorize")
    page.click(".modal-ux button.btn-done")

    operation = page.locator(".opblock-get", has=page.locator('.opblock-summary-path[data-path="/orders"]'))
    operation.locator(".opblock-summary-control").click()
    operation.locator("button.try-out__btn").click()
    with page.expect_response(lambda r: r.url.split("?")[0] == f"{api.base_url}/orders") as answer:
        operation.locator("button.execute").click()
    assert answer.value.status == 200, answer.value.text()
    assert answer.value.request.headers.get("authorization") == f"Bearer {token}"
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    assert status.inner_text().strip() == "200"

    # Both POSTs offer the Idempotency-Key header, as the document declares it.
    for path in ("/orders", "/payments/pay/{orderId}"):
        post = page.locator(".opblock-post", has=page.locator(f'.opblock-summary-path[data-path="{path}"]'))
        post.locator(".opblock-summary-control").click()
        header = post.locator('tr[data-param-name="idempotency-key"][data-param-in="header"]')
        assert header.count() == 1, path

    # The token lives in the page's memory only; the page ran without breaking its own policy.
    stored = page.evaluate("() => JSON.stringify([localStorage, sessionStorage, document.cookie])")
    assert token not in stored
    assert page.evaluate("() => window.__cspViolations") == []


def test_docs_page_is_served_with_a_content_security_policy(api: Api) -> None:
    headers = requests.get(f"{api.base_url}/docs", timeout=30).headers
    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";") if part.strip())
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"  # no inline script, nothing from elsewhere
    assert policy["connect-src"] == "'self'"
    assert json.loads(requests.get(f"{api.base_url}/openapi.json", timeout=30).text)["servers"] == [
        {"url": "/api", "description": "this API (the stage the document is served from)"}
    ]


def test_the_swagger_ui_bundle_is_sent_compressed(api: Api) -> None:
    url = f"{api.base_url}/docs/swagger-ui-bundle.js"
    packed = requests.get(url, headers={"Accept-Encoding": "gzip"}, timeout=30, stream=True)
    raw = packed.raw.read(decode_content=False)
    assert packed.headers["Content-Encoding"] == "gzip"
    plain = requests.get(url, headers={"Accept-Encoding": "identity"}, timeout=30)
    assert "Content-Encoding" not in plain.headers
    assert len(raw) < len(plain.content) / 2  # 1.5 MB of JavaScript, about 0.4 MB on the wire
