"""Runs the real handlers as Lambda would, against moto, configured from template.yaml.

Every function gets exactly the environment the template gives it (table names, topic
ARNs, the state machine ARN), so the template and the code cannot silently disagree.
Each `handler()` call imports the function's code afresh, like a new execution environment.
"""

import copy
import importlib
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from devstack.aws import MotoServer, make_client
from devstack.resources import create_resources, create_state_machines
from devstack.template import StackModel, load_stack_model
from devstack.tokens import DEV_JWT_SECRET
from tests.support.iam_calls import IamEnforcer
from tests.support.sam_template import transformed_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
# Packages a fresh execution environment must import again.
FUNCTION_PACKAGES = ("orders", "payments", "authorizer", "docs", "platform_core")


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@dataclass(frozen=True)
class ApiRequest:
    """What a test sends through API Gateway: as whom (None: no authorizer context), to which path parameters,
    with which body (JSON, or `raw_body` as written), headers and query; None leaves the sample's own.
    `expires_at`: the authorizer context's expiresAt, the token's exp (None: a context without it)."""

    user: str | None = "alice"
    expires_at: float | None = field(default_factory=lambda: time.time() + 3600)
    path_params: dict[str, str] | None = None
    body: Any = None
    raw_body: str | None = None
    headers: dict[str, str] | None = None
    query: dict[str, str] | None = None


def api_event(sample: str, request: ApiRequest | None = None) -> dict[str, Any]:
    """A sample API event from events/, aimed at another user, id, body, query or headers."""
    event = copy.deepcopy(load_event(sample))
    r = request or ApiRequest()
    if r.path_params is not None:
        event["pathParameters"] = r.path_params
        path = event["resource"]
        for name, value in r.path_params.items():
            path = path.replace("{" + name + "}", value)
        event["path"] = path
        event["requestContext"]["path"] = "/api" + path
    if r.body is not None or r.raw_body is not None:
        event["body"] = r.raw_body if r.raw_body is not None else json.dumps(r.body)
    if r.headers is not None:
        event["headers"] = {**event["headers"], **r.headers}
        event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    if r.query is not None:
        event["queryStringParameters"] = r.query or None
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in r.query.items()} or None
    if r.user is None:
        event["requestContext"].pop("authorizer", None)
    else:
        event["requestContext"]["authorizer"] = {"principalId": r.user, "userId": r.user}
        if r.expires_at is not None:  # as API Gateway passes the authorizer's context on: a string
            event["requestContext"]["authorizer"]["expiresAt"] = str(int(r.expires_at))
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    return event


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any

    @classmethod
    def of(cls, raw: dict[str, Any]) -> "Response":
        headers = {k: v for k, v in (raw.get("headers") or {}).items()}
        for key, values in (raw.get("multiValueHeaders") or {}).items():
            headers.setdefault(key, values[0])
        text = raw.get("body") or ""
        try:
            body = json.loads(text)
        except ValueError:
            body = text
        return cls(raw["statusCode"], headers, body)


class AwsHarness:
    """moto (server mode) with the template's resources, and the functions' environments."""

    def __init__(self, server: MotoServer, parameter_overrides: dict[str, str]) -> None:
        self.endpoint = server.url
        self.server = server
        first = load_stack_model(TEMPLATE, parameter_overrides, endpoint=self.endpoint)
        overrides = create_resources(first, self.endpoint, jwt_secret=DEV_JWT_SECRET)
        self.model: StackModel = load_stack_model(
            TEMPLATE, parameter_overrides, endpoint=self.endpoint, physical_overrides=overrides
        )
        create_state_machines(self.model, self.endpoint)
        # Each handler runs with its role's DynamoDB permissions enforced (tests/support/iam_calls.py).
        self.iam = IamEnforcer(transformed_template(), {lid: t.name for lid, t in self.model.tables.items()})

    def client(self, service: str) -> Any:
        return make_client(service, self.endpoint)

    def physical_id(self, logical_id: str) -> str:
        return self.model.physical_id(logical_id)

    def environment(self, logical_id: str) -> dict[str, str]:
        return dict(self.model.functions[logical_id].env)

    def handler(self, logical_id: str, monkeypatch: Any) -> Callable[[dict[str, Any], Any], Any]:
        """Import the function's handler in a fresh 'execution environment'."""
        function = self.model.functions[logical_id]
        for name in list(self.model.functions[logical_id].env):
            monkeypatch.delenv(name, raising=False)
        for name, value in function.env.items():
            monkeypatch.setenv(name, value)
        for name in list(sys.modules):
            if name.split(".")[0] in FUNCTION_PACKAGES:
                del sys.modules[name]
        module_name, _, attr = function.handler.rpartition(".")
        module = importlib.import_module(module_name)
        handler = getattr(module, attr)

        def as_its_role(event: dict[str, Any], context: Any) -> Any:
            with self.iam.running(logical_id):
                return handler(event, context)

        return as_its_role

    def invoke(self, logical_id: str, event: dict[str, Any], monkeypatch: Any) -> Any:
        return self.handler(logical_id, monkeypatch)(event, LambdaContext(function_name=logical_id))

    def items(self, table_logical_id: str) -> list[dict[str, Any]]:
        from platform_core.dynamo import deserialize

        pages = self.client("dynamodb").get_paginator("scan").paginate(TableName=self.physical_id(table_logical_id))
        return [deserialize(i) for page in pages for i in page["Items"]]

    def receive_all(self, queue_logical_id: str) -> list[dict[str, Any]]:
        sqs = self.client("sqs")
        url = self.physical_id(queue_logical_id)
        messages: list[dict[str, Any]] = []
        while batch := sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages"):
            messages.extend(batch)
        return messages


def reset_moto(server: MotoServer) -> None:
    requests.post(f"{server.url}/moto-api/reset", timeout=10).raise_for_status()
    requests.post(
        f"{server.url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=10
    ).raise_for_status()


def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
