"""Builds the OpenAPI document of the whole API from the code of both services.

`python -m tools.openapi_doc --write` (`make openapi`) refreshes openapi.json at the root and the
copy the docs function serves; `--check` (the default) fails when either has drifted from the code.
"""

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Literal

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
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
POWERTOOLS_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


@dataclass(frozen=True)
class GatewayAnswer:
    """A problem+json response API Gateway gives itself (template.yaml's GatewayResponses, by type)."""

    status: int
    where: Literal["secured", "body", "every"]  # the operations it can occur on
    description: str
    headers: dict[str, Any] = field(default_factory=dict)


# What the gateway answers before (or instead of) the function. The functions' own errors come from their
# routes' `responses`; these are added here, the one place the document is completed after generation,
# because no function ever returns them. tests/moto/test_docs.py checks them against template.yaml.
GATEWAY_ANSWERS = {
    "UNAUTHORIZED": GatewayAnswer(401, "secured", "Missing, malformed, expired or wrongly signed bearer token."),
    "ACCESS_DENIED": GatewayAnswer(403, "secured", "The token does not allow this request."),
    "AUTHORIZER_FAILURE": GatewayAnswer(
        503, "secured", "The token could not be checked right now; retry after Retry-After.", RETRY_AFTER
    ),
    "REQUEST_TOO_LARGE": GatewayAnswer(413, "body", "The request is larger than API Gateway accepts (10 MB)."),
    "UNSUPPORTED_MEDIA_TYPE": GatewayAnswer(415, "body", "The body is not application/json."),
    "THROTTLED": GatewayAnswer(429, "every", "Too many requests; retry after Retry-After.", RETRY_AFTER),
    "INTEGRATION_TIMEOUT": GatewayAnswer(504, "every", "The service did not answer in time; try again later."),
}
# The functions' own answer to AWS being throttled or down, on every route that calls it.
DEPENDENCY_DOWN = {
    "description": "A dependency is throttled or down (or the token could not be checked); retry after Retry-After.",
    "headers": RETRY_AFTER,
    "content": PROBLEM,
}


def _answers_where(operation: dict[str, Any], where: str) -> bool:
    secured = operation.get("security") != []
    return where == "every" or (where == "secured" and secured) or (where == "body" and "requestBody" in operation)


def _with_gateway_and_contract_errors(paths: dict[str, Any]) -> dict[str, Any]:
    """Our validation errors are problem+json (400 for query/path/header, 422 for bodies), not Powertools'
    default 422 shape; every API route can answer 503; and each operation declares the gateway's answers
    that can occur on it."""
    for operations in paths.values():
        for operation in operations.values():
            responses = operation["responses"]
            default_422 = responses.get("422", {}).get("content", {}).get("application/json")
            if default_422 is not None:
                responses.pop("422")
                responses.setdefault("400", {"description": "Invalid path or query parameter.", "content": PROBLEM})
            if operation.get("security") != []:
                responses.setdefault("503", DEPENDENCY_DOWN)
            for answer in GATEWAY_ANSWERS.values():
                if _answers_where(operation, answer.where):
                    declared = responses.setdefault(str(answer.status), {"description": answer.description})
                    declared.setdefault("content", PROBLEM)
                    if answer.headers:
                        declared["headers"] = {**declared.get("headers", {}), **answer.headers}
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
        "security_schemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "`Authorization: Bearer <JWT>`; the bare token without `Bearer ` is accepted too. "
                "The JWT needs `sub` (the user) and `exp`; the local stack signs them with `make token`.",
            }
        },
        "security": [{"bearer": []}],
    }
    orders = json.loads(orders_app.get_openapi_json_schema(**common))
    payments = json.loads(payments_app.get_openapi_json_schema(**common))
    document = orders
    document["paths"] = _with_gateway_and_contract_errors({**orders["paths"], **payments["paths"], **DOCS_PATHS})
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
