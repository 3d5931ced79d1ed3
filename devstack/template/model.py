"""The typed model of the local stack: what the template deploys, as the engine runs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "order-platform-local"
PARTITION = "aws"
REST_API_ID = "localapi"
DEFAULT_ENDPOINT = "http://127.0.0.1:5000"

PSEUDO_PARAMS: dict[str, Any] = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::StackName": STACK_NAME,
    "AWS::Partition": PARTITION,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
}


class TemplateError(Exception):
    """The template cannot be resolved."""


# --------------------------------------------------------------------------- model


@dataclass
class SqsEventSource:
    name: str
    queue: str  # logical id
    queue_arn: str
    batch_size: int = 10
    report_batch_item_failures: bool = False
    maximum_batching_window: int = 0
    enabled: bool = True


@dataclass
class StreamEventSource:
    name: str
    table: str  # logical id
    stream_arn: str
    starting_position: str = "LATEST"
    batch_size: int = 100
    maximum_retry_attempts: int = -1
    maximum_record_age: int = -1  # seconds; -1: records never expire (before the stream's 24 hours)
    bisect_on_error: bool = False
    report_batch_item_failures: bool = False
    on_failure_destination: str | None = None
    enabled: bool = True
    filters: list[dict[str, Any]] = field(default_factory=list)  # FilterCriteria patterns; none = all records
    parallelization_factor: int = 1  # concurrent batches per shard (1..10), each partition key in one


@dataclass
class ScheduleEventSource:
    """A Schedule (EventBridge rule) or ScheduleV2 (EventBridge Scheduler) event: a rate() every this often."""

    name: str  # the rule's or schedule's logical id
    expression: str  # as written: rate(1 minute)
    period_seconds: float
    enabled: bool = True


@dataclass
class ApiRoute:
    method: str  # upper case or ANY
    path: str  # template path, e.g. /orders/{orderId}
    function: str  # logical id
    auth: str  # "NONE" or an authorizer name
    api: str  # logical id of the Api


@dataclass
class FunctionModel:
    logical_id: str
    name: str
    arn: str
    code_uri: Path
    handler: str
    runtime: str
    timeout: int
    memory: int
    env: dict[str, str]
    layers: list[Path]
    sqs_events: list[SqsEventSource] = field(default_factory=list)
    stream_events: list[StreamEventSource] = field(default_factory=list)
    api_events: list[ApiRoute] = field(default_factory=list)
    schedule_events: list[ScheduleEventSource] = field(default_factory=list)


@dataclass
class TableModel:
    logical_id: str
    name: str
    arn: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    billing_mode: str
    stream_view_type: str | None
    ttl_attribute: str | None
    global_secondary_indexes: list[dict[str, Any]]
    local_secondary_indexes: list[dict[str, Any]]
    provisioned_throughput: dict[str, int] | None


@dataclass
class RedrivePolicy:
    dead_letter_queue: str  # logical id (or ARN when not in the template)
    dead_letter_arn: str
    max_receive_count: int


@dataclass
class QueueModel:
    logical_id: str
    name: str
    arn: str
    url: str
    attributes: dict[str, str]
    redrive: RedrivePolicy | None


@dataclass
class TopicModel:
    logical_id: str
    name: str
    arn: str
    attributes: dict[str, str]


@dataclass
class SubscriptionModel:
    logical_id: str
    topic_arn: str
    protocol: str
    endpoint: str
    filter_policy: dict[str, Any] | None
    filter_policy_scope: str | None
    raw_message_delivery: bool
    redrive_policy: dict[str, Any] | None = None  # set on the subscription; moto never dead-letters


@dataclass
class SecretModel:
    logical_id: str
    name: str
    arn: str
    secret_string: str | None
    generate: bool
    description: str


@dataclass
class StateMachineModel:
    logical_id: str
    name: str
    arn: str
    type: str
    definition: dict[str, Any]


@dataclass
class AuthorizerModel:
    name: str
    function: str  # logical id
    payload_type: str
    identity_header: str
    ttl: int


@dataclass
class GatewayResponse:
    status: int
    headers: dict[str, str]
    body: str


@dataclass
class ApiModel:
    logical_id: str
    stage_name: str
    routes: list[ApiRoute]
    authorizers: dict[str, AuthorizerModel]
    gateway_responses: dict[str, GatewayResponse]
    # Responses of at least this many bytes are compressed when the client accepts it; None: never.
    minimum_compression_size: int | None = None


@dataclass
class StackModel:
    template_path: Path
    root: Path
    parameters: dict[str, Any]
    conditions: dict[str, bool]
    functions: dict[str, FunctionModel]
    tables: dict[str, TableModel]
    queues: dict[str, QueueModel]
    topics: dict[str, TopicModel]
    subscriptions: dict[str, SubscriptionModel]
    secrets: dict[str, SecretModel]
    state_machines: dict[str, StateMachineModel]
    apis: dict[str, ApiModel]
    layers: dict[str, Path]
    unsupported: list[str]
    skipped: list[str]
    outputs: dict[str, Any]

    @property
    def api(self) -> ApiModel | None:
        return next(iter(self.apis.values()), None)

    @property
    def state_machine(self) -> StateMachineModel | None:
        return next(iter(self.state_machines.values()), None)

    @property
    def routes(self) -> list[ApiRoute]:
        return [r for a in self.apis.values() for r in a.routes]

    def physical_id(self, logical_id: str) -> str:
        """Table name, queue URL, topic ARN, state machine ARN, function name, secret ARN."""
        for coll, attr in (
            (self.tables, "name"),
            (self.queues, "url"),
            (self.topics, "arn"),
            (self.state_machines, "arn"),
            (self.functions, "name"),
            (self.secrets, "arn"),
        ):
            if logical_id in coll:
                return str(getattr(coll[logical_id], attr))
        if logical_id in self.layers:
            return str(self.layers[logical_id])
        raise KeyError(logical_id)

    def queue_by_arn(self, arn: str) -> QueueModel | None:
        return next((q for q in self.queues.values() if q.arn == arn), None)
