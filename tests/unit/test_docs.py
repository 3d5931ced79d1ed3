"""The OpenAPI document is generated from the code, committed, served, and browsable offline."""

import json
import re

import pytest

from tests.support.lambda_env import ROOT, ApiRequest, AwsHarness, Response, api_event
from tools.openapi_doc import TARGETS, build_document, render


def test_committed_openapi_documents_match_the_code():
    expected = render(build_document())
    for path in TARGETS:
        assert path.read_text() == expected, f"{path.relative_to(ROOT)} drifted: run `make openapi`"


def test_document_covers_every_route_with_bearer_security():
    document = json.loads((ROOT / "openapi.json").read_text())
    assert set(document["paths"]) == {
        "/orders",
        "/orders/{orderId}",
        "/payments",
        "/payments/{orderId}",
        "/payments/pay/{orderId}",
        "/openapi.json",
        "/asyncapi.json",
        "/docs",
    }
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["security"] == [{"bearer": []}]
    assert document["paths"]["/docs"]["get"]["security"] == []
    assert "402" in document["paths"]["/payments/pay/{orderId}"]["post"]["responses"]


def docs(aws: AwsHarness, monkeypatch, resource: str, asset: str | None = None) -> Response:
    event = api_event("docs-openapi.json", ApiRequest(user=None))
    event["resource"] = resource
    event["pathParameters"] = {"asset": asset} if asset else None
    return Response.of(aws.invoke("DocsFunction", event, monkeypatch))


def test_docs_function_serves_the_document_and_swagger_ui(aws: AwsHarness, monkeypatch):
    document = docs(aws, monkeypatch, "/openapi.json")
    assert document.status == 200
    assert document.body == json.loads((ROOT / "openapi.json").read_text())
    page = docs(aws, monkeypatch, "/docs")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert 'src="docs/swagger-ui-bundle.js"' in page.body
    assert "https://" not in page.body  # nothing loaded from a CDN
    assert "<script>" not in page.body  # no inline script: the CSP allows none
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    script = docs(aws, monkeypatch, "/docs/{asset}", "swagger-ui-bundle.js")
    assert script.status == 200
    assert "SwaggerUIBundle" in script.body
    assert re.search(r'PACKAGE_VERSION:"5\.\d+\.\d+"', script.body)  # Swagger UI 5 reads OpenAPI 3.1
    init = docs(aws, monkeypatch, "/docs/{asset}", "init.js")
    assert init.status == 200
    assert 'url: "openapi.json"' in init.body
    assert "persistAuthorization: false" in init.body  # the token never reaches localStorage


def test_docs_function_serves_the_event_catalogue(aws: AwsHarness, monkeypatch):
    catalogue = docs(aws, monkeypatch, "/asyncapi.json")
    assert catalogue.status == 200
    assert catalogue.headers["Content-Type"] == "application/json"
    assert catalogue.body == json.loads((ROOT / "asyncapi.json").read_text())


def test_the_document_points_try_it_out_at_the_api_it_is_served_from():
    document = json.loads((ROOT / "openapi.json").read_text())
    assert document["openapi"].startswith("3.1")
    assert [server["url"] for server in document["servers"]] == ["/api"]


@pytest.mark.parametrize(
    "asset", ["../openapi.json", "app.py", "%2e%2e%2fapp.py", "index.html", "swagger-ui-standalone-preset.js"]
)
def test_unknown_assets_are_404(aws: AwsHarness, monkeypatch, asset: str):
    response = docs(aws, monkeypatch, "/docs/{asset}", asset)
    assert response.status == 404
    assert response.headers["Content-Type"] == "application/problem+json"
