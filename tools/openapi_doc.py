"""Builds the OpenAPI document of the whole API from the code of both services.

`python -m tools.openapi_doc --write` (`make openapi`) refreshes openapi.json at the root and the
copy the docs function serves; `--check` (the default) fails when either has drifted from the code.
"""

import json
import os
import sys
from typing import Any

from tools.generated import ROOT, sync

TARGETS = (ROOT / "openapi.json", ROOT / "functions/docs/docs/openapi.json")
CODE_PATHS = ("functions/orders", "functions/payments", "layers/common")

DOCS_PATHS: dict[str, Any] = {
    "/openapi.json": {
        "get": {
            "summary": "This OpenAPI document",
            "tags": ["docs"],
            "security": [],
            "responses": {"200": {"description": "The OpenAPI document.", "content": {"application/json": {}}}},
        }
    },
    "/asyncapi.json": {
        "get": {
            "summary": "The event catalogue: the events between the services (AsyncAPI 3)",
            "tags": ["docs"],
            "security": [],
            "responses": {"200": {"description": "The AsyncAPI document.", "content": {"application/json": {}}}},
        }
    },
    "/docs": {
        "get": {
            "summary": "Swagger UI for this document (works offline)",
            "tags": ["docs"],
            "security": [],
            "responses": {"200": {"description": "An HTML page.", "content": {"text/html": {}}}},
        }
    },
}


PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
COMMON_RESPONSES = {
    "401": {"description": "Missing or invalid bearer token.", "content": PROBLEM},
    "503": {
        "description": "A dependency is throttled or down; retry after the Retry-After header.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": PROBLEM,
    },
}
POWERTOOLS_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


def _with_contract_errors(paths: dict[str, Any]) -> dict[str, Any]:
    """Our validation errors are problem+json (400 for query/path, 422 for bodies), not
    Powertools' default 422 shape; every secured route can also answer 401 and 503."""
    for operations in paths.values():
        for operation in operations.values():
            responses = operation["responses"]
            default_422 = responses.get("422", {}).get("content", {}).get("application/json")
            if default_422 is not None:
                responses.pop("422")
                responses.setdefault("400", {"description": "Invalid path or query parameter.", "content": PROBLEM})
            if "requestBody" in operation:
                responses.setdefault("415", {"description": "The body is not application/json.", "content": PROBLEM})
            for status, response in COMMON_RESPONSES.items():
                responses.setdefault(status, response)
            operation["responses"] = dict(sorted(responses.items()))
    return paths


def build_document() -> dict[str, Any]:
    for path in CODE_PATHS:
        if str(ROOT / path) not in sys.path:
            sys.path.insert(0, str(ROOT / path))
    # Importing the handlers needs their configuration, not AWS: no request is made at import.
    for name in ("ORDERS_TABLE_NAME", "PAYMENTS_TABLE_NAME"):
        os.environ.setdefault(name, "openapi-generation")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from aws_lambda_powertools.event_handler.openapi.models import Server

    from orders.api import app as orders_app
    from payments.api import app as payments_app

    # Relative to the host the document is read from: "Try it out" calls the API that served the page, on
    # any port locally and on the deployed stage alike.
    servers = [Server(url="/api", description="this API (the stage the document is served from)")]
    common: dict[str, Any] = {
        "title": "Order and payment platform",
        "version": "1.0.0",
        "description": "Place orders, pay for them with a card, cancel them and follow them to delivery. "
        "Every route but the documentation needs `Authorization: Bearer <JWT>`.",
        "servers": servers,
        "security_schemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        "security": [{"bearer": []}],
    }
    orders = json.loads(orders_app.get_openapi_json_schema(**common))
    payments = json.loads(payments_app.get_openapi_json_schema(**common))
    document = orders
    document["paths"] = {**_with_contract_errors({**orders["paths"], **payments["paths"]}), **DOCS_PATHS}
    schemas = {**orders["components"].get("schemas", {}), **payments["components"].get("schemas", {})}
    for name in POWERTOOLS_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    document["tags"] = [
        {"name": "orders", "description": "Place, list, read and cancel orders."},
        {"name": "payments", "description": "Read payments and pay with a card."},
        {"name": "docs", "description": "This document, its Swagger UI and the event catalogue."},
    ]
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def main() -> int:
    return sync(__doc__ or "", TARGETS, lambda: render(build_document()), "openapi")


if __name__ == "__main__":
    sys.exit(main())
