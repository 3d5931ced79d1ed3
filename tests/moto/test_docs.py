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


def test_the_docs_page_with_a_trailing_slash_redirects_to_the_page(aws: AwsHarness, monkeypatch):
    # API Gateway routes /api/docs/ to the /docs resource; served there, the page's relative asset URLs
    # would resolve under /api/docs/docs/ and leave it blank.
    event = api_event("docs-openapi.json", ApiRequest(user=None))
    event["resource"], event["path"] = "/docs", "/docs/"
    event["requestContext"]["path"] = "/api/docs/"
    moved = Response.of(aws.invoke("DocsFunction", event, monkeypatch))
    assert moved.status == 301
    assert moved.headers["Location"] == "../docs"  # from /api/docs/: /api/docs, whatever the stage or domain


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


DOCUMENT = json.loads((ROOT / "openapi.json").read_text())
OPERATIONS = [(method, path, op) for path, ops in DOCUMENT["paths"].items() for method, op in ops.items()]
POSTS = ["/orders", "/payments/pay/{orderId}"]


@pytest.mark.parametrize("path", POSTS)
def test_both_posts_declare_the_idempotency_key_header(path: str):
    # What Swagger UI and generated clients read to offer (and send) the header.
    (header,) = [p for p in DOCUMENT["paths"][path]["post"]["parameters"] if p["in"] == "header"]
    assert header["name"].lower() == "idempotency-key"
    assert header["required"] is False
    (string,) = [s for s in header["schema"]["anyOf"] if s["type"] == "string"]
    assert re.fullmatch(string["pattern"], "k" * 128)
    assert not re.fullmatch(string["pattern"], "k" * 129)
    assert not re.fullmatch(string["pattern"], "tab\tkey")


def test_the_201_declares_its_location_header():
    created = DOCUMENT["paths"]["/orders"]["post"]["responses"]["201"]
    assert created["headers"]["Location"]["schema"]["type"] == "string"


def test_the_security_scheme_says_a_bare_token_is_accepted():
    description = DOCUMENT["components"]["securitySchemes"]["bearer"]["description"]
    assert "Bearer <JWT>" in description
    assert "bare token" in description


def test_the_gateways_own_answers_are_declared_where_they_can_occur():
    for method, path, operation in OPERATIONS:
        responses = operation["responses"]
        secured = operation.get("security") != []
        expected = {"429", "504"} | ({"401", "403", "503"} if secured else set())
        expected |= {"413", "415"} if "requestBody" in operation else set()
        assert expected <= set(responses), (method, path, expected - set(responses))
        for status in ("429", "503"):
            if status in responses:
                assert responses[status]["headers"]["Retry-After"]["schema"]["type"] == "integer"


def test_the_declared_gateway_answers_are_the_templates():
    from tests.support.sam_template import transformed_template
    from tests.unit.test_template_deploy import gateway_responses
    from tools.openapi_doc import GATEWAY_ANSWERS

    responses = gateway_responses(transformed_template())
    for kind, answer in GATEWAY_ANSWERS.items():
        assert responses[kind]["statusCode"] == str(answer.status), kind
        sent = {k.removeprefix("gatewayresponse.header.") for k in responses[kind].get("responseParameters", {})}
        assert set(answer.headers) <= sent, kind
        assert ("Retry-After" in sent) == ("Retry-After" in answer.headers), kind
