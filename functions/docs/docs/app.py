"""GET /openapi.json, GET /asyncapi.json and GET /docs (Swagger UI), served from the function itself so they
work offline.

The documents are generated from the services' code (`make openapi`, `make events`); tests fail when they drift.
"""

import json
from pathlib import Path
from typing import Any

import swagger_ui_bundle

# The API (OpenAPI) and the events between the services (AsyncAPI), each read once per execution environment.
DOCUMENTS = {f"/{name}": Path(__file__).with_name(name) for name in ("openapi.json", "asyncapi.json")}
ASSETS_DIR = Path(swagger_ui_bundle.swagger_ui_path)  # Swagger UI 5.x: reads OpenAPI 3.1
ASSET_TYPES = {
    "swagger-ui-bundle.js": "application/javascript",
    "swagger-ui.css": "text/css",
}

# Our own start-up script, a file rather than inline so that the CSP allows no inline script. The bearer
# token stays in the page's memory: no persistAuthorization, so nothing is written to localStorage.
INIT_SCRIPT = """window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  deepLinking: false,
  persistAuthorization: false,
  validatorUrl: null
});
"""

# Everything from this API's own origin; nothing inline but style attributes (React sets them), images from
# data: URIs (the stylesheet's icons); no framing, no forms posted elsewhere, no <base> rewriting.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

# Relative URLs: the page is /{stage}/docs, so "docs/..." and "openapi.json" resolve under the stage.
PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Order and payment platform - API docs</title>
  <link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/swagger-ui-bundle.js"></script>
  <script src="docs/init.js"></script>
</body>
</html>
"""

_documents: dict[str, str] = {}


def _response(status: int, content_type: str, body: str, cache_seconds: int = 300) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {
            "Content-Type": content_type,
            "Cache-Control": f"public, max-age={cache_seconds}",
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def _not_found(detail: str) -> dict[str, Any]:
    problem = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": detail}
    return _response(404, "application/problem+json", json.dumps(problem), cache_seconds=0)


def _page(event: dict[str, Any]) -> dict[str, Any]:
    if not event.get("path", "").endswith("/"):
        return _response(200, "text/html; charset=utf-8", PAGE)
    # `/docs/` (API Gateway routes it here too): the page's relative URLs would resolve under /docs/docs/, so
    # the browser is sent to /docs. A relative Location holds under any stage or custom domain.
    moved = _response(301, "text/plain; charset=utf-8", "Moved to ../docs")
    moved["headers"]["Location"] = "../docs"
    return moved


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    resource = event.get("resource", "")
    if resource in DOCUMENTS:
        if resource not in _documents:
            _documents[resource] = DOCUMENTS[resource].read_text()
        return _response(200, "application/json", _documents[resource])
    if resource == "/docs":
        return _page(event)
    if resource == "/docs/{asset}":
        name = (event.get("pathParameters") or {}).get("asset", "")
        if name == "init.js":
            return _response(200, "application/javascript", INIT_SCRIPT)
        content_type = ASSET_TYPES.get(name)
        if content_type is None:  # a fixed list: no path ever reaches the file system unchecked
            return _not_found("No such documentation asset.")
        return _response(200, content_type, (ASSETS_DIR / name).read_text(), cache_seconds=86400)
    return _not_found("No such route.")
