"""Load a SAM/CloudFormation template and resolve it into a typed model of the local stack.

Everything the local stack runs is derived from here, so it cannot drift from what is deployed.
Intrinsic functions are resolved by SAM CLI's resolver (devstack.template.intrinsics); this module answers what it
asks of resources. Resolution is deterministic: physical names are ``{StackName}-{LogicalId}`` unless the
template names the resource. Ids that only the AWS emulator knows (stream ARNs, secret ARNs, queue URLs) are passed
in as ``physical_overrides`` on a second pass, once the resources exist.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.events.filters import parse_filter_criteria
from devstack.template.intrinsics import IntrinsicError, Intrinsics, PseudoParameterValues, expand_language_extensions
from devstack.template.sam import SamTransformError, local_path, sam_transform

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


# --------------------------------------------------------------------------- reading the template


def load_template(path: str | Path) -> dict[str, Any]:
    """The template as the SAM translator parses it (short tags such as ``!Ref`` become their long form)."""
    from samtranslator.yaml_helper import yaml_parse

    data = yaml_parse(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: not a template")
    return data


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


# --------------------------------------------------------------------------- resolution


def parameter_values(template: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Each parameter's value: the override, else the default; refused when neither or not allowed."""
    values: dict[str, Any] = {}
    for name, raw_spec in (template.get("Parameters") or {}).items():
        spec = raw_spec or {}
        if name in overrides:
            value: Any = overrides[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise TemplateError(f"parameter {name} has no default and no override")
        value = "" if value is None else value
        if isinstance(value, bool):
            value = str(value).lower()
        if str(spec.get("Type", "String")).startswith(("CommaDelimitedList", "List<")):
            value = value if isinstance(value, list) else [v.strip() for v in str(value).split(",")]
        else:
            value = str(value)
        allowed = spec.get("AllowedValues")
        if allowed and not isinstance(value, list) and value not in [str(a) for a in allowed]:
            raise TemplateError(f"parameter {name}={value!r} not in AllowedValues {allowed}")
        values[name] = value
    unknown = set(overrides) - set(values)
    if unknown:
        raise TemplateError(f"unknown parameter overrides: {sorted(unknown)}")
    return values


PSEUDO = PseudoParameterValues(
    region=REGION,
    account_id=ACCOUNT_ID,
    stack_id=PSEUDO_PARAMS["AWS::StackId"],
    stack_name=STACK_NAME,
    partition=PARTITION,
    url_suffix=PSEUDO_PARAMS["AWS::URLSuffix"],
    notification_arns=[],
)


class Resolver:
    """Intrinsics through SAM CLI's resolver (devstack.template.intrinsics); this class answers what it asks of a
    resource: its physical name, ARN, URL and attributes on the local stack."""

    def __init__(
        self,
        template: dict[str, Any],
        params: dict[str, Any],
        endpoint: str,
        physical_overrides: Mapping[str, str],
        root: Path,
    ) -> None:
        self.template = template
        self.endpoint = endpoint.rstrip("/")
        self.overrides = dict(physical_overrides)
        self.root = root
        self.resources: dict[str, Any] = template.get("Resources") or {}
        self.params = params
        self.intrinsics = Intrinsics(template, params, PSEUDO, self)
        self.conditions: dict[str, bool] = {}
        for name in template.get("Conditions") or {}:
            self.condition(name)

    # -- conditions
    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            if name not in (self.template.get("Conditions") or {}):
                raise TemplateError(f"unknown condition {name}")
            self.conditions[name] = self.intrinsics.condition(name)
        return self.conditions[name]

    def resource_enabled(self, logical_id: str) -> bool:
        res = self.resources.get(logical_id)
        if res is None:
            return False
        cond = res.get("Condition")
        return cond is None or self.condition(cond)

    # -- physical ids
    def rtype(self, logical_id: str) -> str:
        return str(self.resources[logical_id].get("Type", ""))

    def physical_name(self, logical_id: str) -> str:
        res = self.resources[logical_id]
        props = res.get("Properties") or {}
        name_prop = {
            "AWS::DynamoDB::Table": "TableName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::SNS::Topic": "TopicName",
            "AWS::StepFunctions::StateMachine": "StateMachineName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::SecretsManager::Secret": "Name",
        }.get(self.rtype(logical_id))
        if name_prop and props.get(name_prop) is not None:
            return str(self.resolve(props[name_prop]))
        name = f"{STACK_NAME}-{logical_id}"
        if self.rtype(logical_id) == "AWS::SQS::Queue" and self._truthy(props.get("FifoQueue")):
            name += ".fifo"
        if self.rtype(logical_id) == "AWS::SNS::Topic" and self._truthy(props.get("FifoTopic")):
            name += ".fifo"
        return name

    def _truthy(self, v: Any) -> bool:
        v = self.resolve(v)
        return v is True or str(v).lower() == "true"

    def is_resource(self, name: str) -> bool:
        return name in self.resources

    def ref(self, name: str) -> Any:
        if name not in self.resources:
            raise TemplateError(f"Ref to unknown name {name}")
        if name in self.overrides:
            return self.overrides[name]
        if not self.resource_enabled(name):
            raise TemplateError(f"Ref to {name}, whose Condition is false")
        return _REF_BY_TYPE.get(self.rtype(name), Resolver.physical_name)(self, name)

    def arn(self, name: str) -> str:
        t = self.rtype(name)
        if t == "AWS::SecretsManager::Secret" and self.overrides.get(name):
            return self.overrides[name]  # the emulator's ARN, which ends in a random suffix
        arn_format = _ARN_FORMATS.get(t, "arn:aws:local:{region}:{account}:{name}")
        return arn_format.format(region=REGION, account=ACCOUNT_ID, name=self.physical_name(name))

    def get_att(self, name: str, attr: str) -> Any:
        key = f"{name}.{attr}"
        if key in self.overrides:
            return self.overrides[key]
        if name not in self.resources:
            raise TemplateError(f"GetAtt of unknown resource {name}")
        if attr == "Arn":
            return self.arn(name)
        t = self.rtype(name)
        attribute = _GET_ATT.get((t, attr))
        if attribute is None:
            raise TemplateError(f"GetAtt {name}.{attr} ({t}): not emulated locally")
        return attribute(self, name)

    def layer_path(self, name: str) -> str:
        content = self.resolve((self.resources[name].get("Properties") or {}).get("Content") or {})
        return str(self.local_path(name, content.get("S3Bucket"), content.get("S3Key")))

    def local_path(self, where: str, bucket: Any, key: Any) -> Path:
        try:
            return local_path(self.root, bucket, key)
        except SamTransformError as exc:
            raise TemplateError(f"{where}: {exc}") from exc

    def resolve(self, node: Any) -> Any:
        try:
            return self.intrinsics.resolve(node)
        except IntrinsicError as exc:
            raise TemplateError(str(exc)) from exc


# What Ref answers per resource type (the physical name when the type is not listed).
_REF_BY_TYPE: dict[str, Callable[[Resolver, str], Any]] = {
    "AWS::SQS::Queue": lambda r, name: f"{r.endpoint}/{ACCOUNT_ID}/{r.physical_name(name)}",
    "AWS::SNS::Topic": Resolver.arn,
    "AWS::SecretsManager::Secret": Resolver.arn,
    "AWS::Lambda::LayerVersion": Resolver.layer_path,
    "AWS::StepFunctions::StateMachine": Resolver.arn,
    "AWS::ApiGateway::RestApi": lambda r, name: REST_API_ID,
}

_ARN_FORMATS = {
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::SecretsManager::Secret": "arn:aws:secretsmanager:{region}:{account}:secret:{name}",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{name}",
}

# The attributes GetAtt knows besides Arn; any other is refused by name.
_GET_ATT: dict[tuple[str, str], Callable[[Resolver, str], Any]] = {
    # A placeholder until the table exists; the stack passes the real one on the second pass.
    ("AWS::DynamoDB::Table", "StreamArn"): lambda r, name: f"{r.arn(name)}/stream/pending",
    ("AWS::SQS::Queue", "QueueName"): Resolver.physical_name,
    ("AWS::SQS::Queue", "QueueUrl"): Resolver.ref,
    ("AWS::SNS::Topic", "TopicName"): Resolver.physical_name,
    ("AWS::SNS::Topic", "TopicArn"): Resolver.arn,
    ("AWS::SecretsManager::Secret", "Id"): Resolver.arn,
    ("AWS::StepFunctions::StateMachine", "Name"): Resolver.physical_name,
    ("AWS::ApiGateway::RestApi", "RootResourceId"): lambda r, name: "root",
}


def _as_int(v: Any, default: int) -> int:
    if v is None:
        return default
    return int(str(v))


def _as_bool(v: Any) -> bool:
    return v is True or str(v).lower() == "true"


def _strip_quotes(v: Any) -> str:
    s = str(v)
    if len(s) >= 2 and s[0] == s[-1] == "'":
        return s[1:-1]
    return s


_NOT_ENFORCED_TYPES = {
    "AWS::SQS::QueuePolicy": "queue policy (IAM is not enforced locally)",
    "AWS::SNS::TopicPolicy": "topic policy (IAM is not enforced locally)",
    "AWS::IAM::Role": "IAM role (IAM is not enforced locally)",
    "AWS::IAM::Policy": "IAM policy (IAM is not enforced locally)",
    "AWS::Logs::LogGroup": "log group (logs go to .devstack/logs)",
    "AWS::CloudWatch::Alarm": "CloudWatch alarm",
    "AWS::CloudWatch::Dashboard": "CloudWatch dashboard",
    "AWS::ApiGateway::Account": "API Gateway account setting (no access logs locally)",
    "AWS::CloudFormation::WaitConditionHandle": "creation-order handle (nothing to order locally)",
    "AWS::KMS::Key": "KMS key (no encryption locally)",
    "AWS::ApiGateway::Deployment": "API deployment (the routes are live once the stack starts)",
}


@dataclass
class _PendingRoute:
    """A route of an API's OpenAPI body, before its integration URI is matched to a function."""

    route: ApiRoute
    integration_uri: str


@dataclass
class _Build:
    """What the builders fill in, one resource at a time, before the links between resources are made."""

    r: Resolver
    root: Path
    sam_layers: frozenset[str] = frozenset()
    unsupported: list[str] = field(default_factory=list)
    functions: dict[str, FunctionModel] = field(default_factory=dict)
    tables: dict[str, TableModel] = field(default_factory=dict)
    queues: dict[str, QueueModel] = field(default_factory=dict)
    topics: dict[str, TopicModel] = field(default_factory=dict)
    subscriptions: dict[str, SubscriptionModel] = field(default_factory=dict)
    secrets: dict[str, SecretModel] = field(default_factory=dict)
    state_machines: dict[str, StateMachineModel] = field(default_factory=dict)
    apis: dict[str, ApiModel] = field(default_factory=dict)
    layers: dict[str, Path] = field(default_factory=dict)
    routes: list[_PendingRoute] = field(default_factory=list)
    mappings: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    stages: dict[str, str] = field(default_factory=dict)  # API logical id -> stage name
    traced: list[str] = field(default_factory=list)
    architectures: dict[str, list[str]] = field(default_factory=dict)

    def queue_by_arn(self, arn: str) -> QueueModel | None:
        return next((q for q in self.queues.values() if q.arn == arn), None)

    def report(self, where: str, props: Mapping[str, Any], features: Iterable[str], prefix: str = "") -> None:
        """Name each of ``features`` that ``props`` sets: the local stack does not emulate it."""
        self.unsupported.extend(f"{where}: {prefix}{f}" for f in features if f in props)


# --------------------------------------------------------------------------- builders, one per resource type


def _build_layer(b: _Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    named = lid[:-SAM_LAYER_HASH_DIGITS]
    b.layers[named if named in b.sam_layers else lid] = Path(b.r.ref(lid))


SAM_LAYER_HASH_DIGITS = 10  # the hex digits SAM appends to a LayerVersion's logical id

_FUNCTION_FEATURES_NOT_EMULATED = (
    "ReservedConcurrentExecutions",
    "VpcConfig",
    "DeadLetterConfig",
    "EphemeralStorage",
    "SnapStart",
    "FileSystemConfigs",
    "ImageConfig",
    "KmsKeyArn",
    "CodeSigningConfigArn",
)


def _build_function(b: _Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    code = props.get("Code") or {}
    layer_dirs = []
    for layer in props.get("Layers") or []:
        if Path(str(layer)).is_dir():
            layer_dirs.append(Path(str(layer)))
        else:
            b.unsupported.append(f"{lid}: layer {layer} is not a local layer of the template")
    b.functions[lid] = FunctionModel(
        logical_id=lid,
        name=b.r.physical_name(lid),
        arn=b.r.arn(lid),
        code_uri=b.r.local_path(lid, code.get("S3Bucket"), code.get("S3Key")),
        handler=str(props.get("Handler", "")),
        runtime=str(props.get("Runtime", "python3.11")),
        timeout=_as_int(props.get("Timeout"), 3),
        memory=_as_int(props.get("MemorySize"), 128),
        env={k: str(v) for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items()},
        layers=layer_dirs,
    )
    if (props.get("TracingConfig") or {}).get("Mode") == "Active":
        b.traced.append(lid)
    for architecture in props.get("Architectures") or []:
        b.architectures.setdefault(str(architecture), []).append(lid)
    b.report(lid, props, _FUNCTION_FEATURES_NOT_EMULATED)


def _build_event_source_mapping(b: _Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    # Linked to its function and its queue or stream once every resource is built (_link_event_sources).
    b.mappings.append((lid, props, raw))


def _sqs_source(b: _Build, name: str, queue: QueueModel, props: dict[str, Any], where: str) -> SqsEventSource:
    b.report(where, props, ("FilterCriteria", "ScalingConfig"), prefix="SQS event ")
    return SqsEventSource(
        name=name,
        queue=queue.logical_id,
        queue_arn=queue.arn,
        batch_size=_as_int(props.get("BatchSize"), 10),
        report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
        maximum_batching_window=_as_int(props.get("MaximumBatchingWindowInSeconds"), 0),
        enabled=_as_bool(props.get("Enabled", True)),
    )


def _stream_source(b: _Build, name: str, table: str, props: dict[str, Any], where: str) -> StreamEventSource:
    dest = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    b.report(where, props, ("ParallelizationFactor", "TumblingWindowInSeconds"), prefix="stream event ")
    if _as_int(props.get("MaximumBatchingWindowInSeconds"), 0):
        b.unsupported.append(f"{where}: MaximumBatchingWindowInSeconds (invokes at once)")
    return StreamEventSource(
        name=name,
        table=table,
        stream_arn=str(props.get("EventSourceArn")),
        starting_position=str(props.get("StartingPosition", "LATEST")),
        batch_size=_as_int(props.get("BatchSize"), 100),
        maximum_retry_attempts=_as_int(props.get("MaximumRetryAttempts"), -1),
        maximum_record_age=_as_int(props.get("MaximumRecordAgeInSeconds"), -1),
        bisect_on_error=_as_bool(props.get("BisectBatchOnFunctionError", False)),
        report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
        on_failure_destination=str(dest) if dest else None,
        enabled=_as_bool(props.get("Enabled", True)),
        filters=parse_filter_criteria(props["FilterCriteria"], where) if "FilterCriteria" in props else [],
    )


def _build_table(b: _Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    ttl = props.get("TimeToLiveSpecification") or {}
    pt = props.get("ProvisionedThroughput")
    b.tables[lid] = TableModel(
        logical_id=lid,
        name=b.r.physical_name(lid),
        arn=b.r.arn(lid),
        key_schema=props.get("KeySchema") or [],
        attribute_definitions=props.get("AttributeDefinitions") or [],
        billing_mode=str(props.get("BillingMode", "PROVISIONED" if pt else "PAY_PER_REQUEST")),
        stream_view_type=(props.get("StreamSpecification") or {}).get("StreamViewType"),
        ttl_attribute=ttl.get("AttributeName") if _as_bool(ttl.get("Enabled", False)) else None,
        global_secondary_indexes=props.get("GlobalSecondaryIndexes") or [],
        local_secondary_indexes=props.get("LocalSecondaryIndexes") or [],
        provisioned_throughput={k: int(v) for k, v in pt.items()} if pt else None,
    )
    if _as_bool((props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")):
        b.unsupported.append(f"{lid}: PointInTimeRecovery")
    if _as_bool(props.get("DeletionProtectionEnabled", False)):
        b.unsupported.append(f"{lid}: DeletionProtectionEnabled")
    if _as_bool((props.get("SSESpecification") or {}).get("SSEEnabled")):
        b.unsupported.append(f"{lid}: SSESpecification (no encryption locally)")
    b.report(
        lid, props, ("KinesisStreamSpecification", "ContributorInsightsSpecification", "ImportSourceSpecification")
    )


_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)


def _redrive_policy(props: dict[str, Any]) -> RedrivePolicy | None:
    rp = props.get("RedrivePolicy")
    if not rp:
        return None
    if isinstance(rp, str):
        rp = json.loads(rp)
    dlq_arn = str(rp["deadLetterTargetArn"])
    count = int(str(rp["maxReceiveCount"]))
    return RedrivePolicy(dead_letter_queue=dlq_arn, dead_letter_arn=dlq_arn, max_receive_count=count)


def _attribute(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def _build_queue(b: _Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    attrs = {k: _attribute(props[k]) for k in _QUEUE_ATTRIBUTES if k in props}
    if _as_bool(props.get("SqsManagedSseEnabled")):
        b.unsupported.append(f"{lid}: SqsManagedSseEnabled (no encryption locally)")
    if "KmsMasterKeyId" in props:
        b.unsupported.append(f"{lid}: KmsMasterKeyId (no encryption locally)")
    b.report(lid, props, ("RedriveAllowPolicy",))
    b.queues[lid] = QueueModel(
        logical_id=lid,
        name=b.r.physical_name(lid),
        arn=b.r.arn(lid),
        url=str(b.r.ref(lid)),
        attributes=attrs,
        redrive=_redrive_policy(props),
    )


def _build_topic(b: _Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    attrs: dict[str, str] = {}
    if "DisplayName" in props:
        attrs["DisplayName"] = str(props["DisplayName"])
    for flag in ("FifoTopic", "ContentBasedDeduplication"):
        if _as_bool(props.get(flag)):
            attrs[flag] = "true"
    if "KmsMasterKeyId" in props:
        b.unsupported.append(f"{lid}: KmsMasterKeyId (no encryption locally)")
    b.topics[lid] = TopicModel(lid, b.r.physical_name(lid), b.r.arn(lid), attrs)
    for i, s in enumerate(props.get("Subscription") or []):
        sid = f"{lid}Subscription{i}"
        b.subscriptions[sid] = SubscriptionModel(
            sid, b.r.arn(lid), str(s["Protocol"]), str(s["Endpoint"]), None, None, False
        )


def _build_subscription(b: _Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    fp = props.get("FilterPolicy")
    b.subscriptions[lid] = SubscriptionModel(
        logical_id=lid,
        topic_arn=str(props["TopicArn"]),
        protocol=str(props["Protocol"]),
        endpoint=str(props.get("Endpoint", "")),
        filter_policy=json.loads(fp) if isinstance(fp, str) else fp,
        filter_policy_scope=props.get("FilterPolicyScope"),
        raw_message_delivery=_as_bool(props.get("RawMessageDelivery", False)),
        redrive_policy=props.get("RedrivePolicy") or None,
    )
    if props.get("RedrivePolicy"):
        b.unsupported.append(f"{lid}: subscription RedrivePolicy (set, but SNS never fails a delivery locally)")


def _build_secret(b: _Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    b.secrets[lid] = SecretModel(
        logical_id=lid,
        name=b.r.physical_name(lid),
        arn=b.r.arn(lid),
        secret_string=props.get("SecretString"),
        generate="GenerateSecretString" in props,
        description=str(props.get("Description", "")),
    )


def _state_machine_definition(b: _Build, lid: str, props: dict[str, Any]) -> str:
    if "DefinitionS3Location" in props:
        location = props["DefinitionS3Location"]
        return b.r.local_path(lid, location.get("Bucket"), location.get("Key")).read_text(encoding="utf-8")
    if "DefinitionString" in props:
        return str(props["DefinitionString"])
    return json.dumps(props.get("Definition") or {})


def _build_state_machine(b: _Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    text = _state_machine_definition(b, lid, props)
    for k, v in (props.get("DefinitionSubstitutions") or {}).items():
        text = text.replace("${" + k + "}", str(v))
    try:
        definition = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{lid}: definition is not JSON after substitutions: {exc}") from exc
    b.state_machines[lid] = StateMachineModel(
        lid, b.r.physical_name(lid), b.r.arn(lid), str(props.get("StateMachineType", "STANDARD")), definition
    )
    if _as_bool((props.get("TracingConfiguration") or {}).get("Enabled")):
        b.unsupported.append(f"{lid}: Tracing (no X-Ray locally)")
    if props.get("LoggingConfiguration"):
        b.unsupported.append(f"{lid}: Logging")


_INTEGRATION = "x-amazon-apigateway-integration"
_AUTHORIZER = "x-amazon-apigateway-authorizer"
_ANY_METHOD = "x-amazon-apigateway-any-method"
_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", _ANY_METHOD}


def _authorizer(b: _Build, lid: str, name: str, scheme: dict[str, Any]) -> AuthorizerModel:
    spec = scheme.get(_AUTHORIZER) or {}
    kind = str(spec.get("type", "")).upper()
    if kind != "TOKEN":
        b.unsupported.append(f"{lid}: authorizer {name} of type {kind or 'unknown'} (only TOKEN)")
    return AuthorizerModel(
        name=name,
        function=str(spec.get("authorizerUri", "")),  # the URI until _link_routes names the function
        payload_type=kind,
        identity_header=str(scheme.get("name", "Authorization")),
        ttl=_as_int(spec.get("authorizerResultTtlInSeconds"), 300),
    )


def _gateway_response(g: dict[str, Any]) -> GatewayResponse:
    prefix = "gatewayresponse.header."
    parameters = g.get("responseParameters") or {}
    headers = {k[len(prefix) :]: _strip_quotes(v) for k, v in parameters.items() if k.startswith(prefix)}
    templates = g.get("responseTemplates") or {}
    body = templates.get("application/json") or next(iter(templates.values()), "")
    return GatewayResponse(status=_as_int(g.get("statusCode"), 0), headers=headers, body=str(body))


def _api_routes(b: _Build, lid: str, body: dict[str, Any]) -> None:
    for path, operations in (body.get("paths") or {}).items():
        for method, operation in (operations or {}).items():
            if method not in _HTTP_METHODS:
                continue
            verb = "ANY" if method == _ANY_METHOD else method.upper()
            integration = operation.get(_INTEGRATION) or {}
            if integration.get("type") != "aws_proxy":
                b.unsupported.append(f"{lid}: {verb} {path}: {integration.get('type')} integration (only aws_proxy)")
                continue
            security = operation.get("security") or body.get("security") or [{"NONE": []}]
            auth = next(iter(security[0]), "NONE") if security else "NONE"
            route = ApiRoute(method=verb, path=str(path), function="", auth=str(auth), api=lid)
            b.routes.append(_PendingRoute(route, str(integration.get("uri", ""))))


_API_FEATURES_NOT_EMULATED = ("BinaryMediaTypes", "EndpointConfiguration", "Policy", "ApiKeySourceType")
_BODY_FEATURES_NOT_EMULATED = ("x-amazon-apigateway-request-validators", "x-amazon-apigateway-policy")


def _build_rest_api(b: _Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    body = props.get("Body")
    if not isinstance(body, dict):
        raise TemplateError(f"{lid}: an API without an inline OpenAPI body (Body) is not emulated")
    schemes = (body.get("components") or {}).get("securitySchemes") or body.get("securityDefinitions") or {}
    b.apis[lid] = ApiModel(
        logical_id=lid,
        stage_name="",  # the Stage's (_link_routes)
        routes=[],
        authorizers={n: _authorizer(b, lid, n, s) for n, s in schemes.items() if _AUTHORIZER in s},
        gateway_responses={
            name: _gateway_response(g) for name, g in (body.get("x-amazon-apigateway-gateway-responses") or {}).items()
        },
        minimum_compression_size=(
            _as_int(props["MinimumCompressionSize"], 0) if "MinimumCompressionSize" in props else None
        ),
    )
    _api_routes(b, lid, body)
    b.report(lid, props, _API_FEATURES_NOT_EMULATED)
    b.report(lid, body, _BODY_FEATURES_NOT_EMULATED)


_STAGE_FEATURES_NOT_EMULATED = ("AccessLogSetting", "CacheClusterEnabled", "CanarySetting", "Variables")


def _build_stage(b: _Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    api = raw.get("RestApiId")
    if not (isinstance(api, dict) and isinstance(api.get("Ref"), str)):
        raise TemplateError(f"{lid}: RestApiId must be a Ref to an API of the template")
    b.stages[api["Ref"]] = str(props.get("StageName", ""))
    if _as_bool(props.get("TracingEnabled")):
        b.unsupported.append(f"{lid}: TracingEnabled (no X-Ray locally)")
    if props.get("MethodSettings"):
        b.unsupported.append(f"{lid}: MethodSettings (throttling, metrics)")
    b.report(lid, props, _STAGE_FEATURES_NOT_EMULATED)


_API_TYPES = ("AWS::ApiGateway::RestApi",)


def _build_permission(b: _Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    """An Api event whose RestApiId is no API of the template leaves only this permission behind (SAM
    assumes such an API lives elsewhere): its route would exist nowhere locally, so it is refused."""
    source = raw.get("SourceArn")
    variables = source["Fn::Sub"][1] if isinstance(source, dict) and isinstance(source.get("Fn::Sub"), list) else {}
    api = variables.get("__ApiId__") if isinstance(variables, dict) else None
    if api is None or raw.get("Principal") != "apigateway.amazonaws.com":
        return
    target = api.get("Ref") if isinstance(api, dict) else None
    if not (isinstance(target, str) and b.r.is_resource(target) and b.r.rtype(target) in _API_TYPES):
        raise TemplateError(f"{lid}: RestApiId {api!r} is not an API of the template (not emulated)")


# One builder per CloudFormation type the SAM transform leaves; every other type is reported, not emulated.
_BUILDERS: dict[str, Callable[[_Build, str, dict[str, Any], dict[str, Any]], None]] = {
    "AWS::Lambda::LayerVersion": _build_layer,
    "AWS::Lambda::Function": _build_function,
    "AWS::Lambda::EventSourceMapping": _build_event_source_mapping,
    "AWS::ApiGateway::RestApi": _build_rest_api,
    "AWS::ApiGateway::Stage": _build_stage,
    "AWS::StepFunctions::StateMachine": _build_state_machine,
    "AWS::DynamoDB::Table": _build_table,
    "AWS::SQS::Queue": _build_queue,
    "AWS::SNS::Topic": _build_topic,
    "AWS::SNS::Subscription": _build_subscription,
    "AWS::SecretsManager::Secret": _build_secret,
    "AWS::Lambda::Permission": _build_permission,
}
_EMULATED_TYPES = set(_BUILDERS)


# --------------------------------------------------------------------------- links between resources


def _function_of(b: _Build, reference: str, where: str) -> FunctionModel:
    """The function a mapping's FunctionName, or an integration or authorizer URI, names (a name or an ARN)."""
    for fn in b.functions.values():
        if reference in (fn.name, fn.arn) or f"/functions/{fn.arn}/invocations" in reference:
            return fn
    raise TemplateError(f"{where}: {reference} is no function of the template")


def _link_mapping(b: _Build, lid: str, props: dict[str, Any], table_by_stream: dict[str, str]) -> None:
    fn = _function_of(b, str(props.get("FunctionName")), lid)
    name = lid.removeprefix(fn.logical_id) or lid  # SAM names a mapping <Function><Event>
    source = str(props.get("EventSourceArn"))
    queue = b.queue_by_arn(source)
    if queue is not None:
        fn.sqs_events.append(_sqs_source(b, name, queue, props, f"{fn.logical_id}.{name}"))
        return
    table = table_by_stream.get(source) or next(
        (t.logical_id for t in b.tables.values() if source.startswith(t.arn + "/stream/")), None
    )
    if table is None:
        raise TemplateError(f"{lid}: event source {source} is no queue or table stream of the template")
    fn.stream_events.append(_stream_source(b, name, table, props, f"{fn.logical_id}.{name}"))


def _link_event_sources(b: _Build) -> None:
    table_by_stream = {str(b.r.get_att(lid, "StreamArn")): lid for lid in b.tables}
    for lid, props, _raw in b.mappings:
        _link_mapping(b, lid, props, table_by_stream)
    for q in b.queues.values():
        if q.redrive:
            dlq = b.queue_by_arn(q.redrive.dead_letter_arn)
            if dlq is not None:
                q.redrive.dead_letter_queue = dlq.logical_id


def _link_routes(b: _Build) -> None:
    for api in b.apis.values():
        api.stage_name = b.stages.get(api.logical_id, "")
        for authorizer in api.authorizers.values():
            authorizer.function = _function_of(b, authorizer.function, f"{api.logical_id}: authorizer").logical_id
    for pending in b.routes:
        route = pending.route
        where = f"{route.api}: route {route.method} {route.path}"
        route.function = _function_of(b, pending.integration_uri, where).logical_id
        api = b.apis[route.api]
        if route.auth != "NONE" and route.auth not in api.authorizers:
            raise TemplateError(f"{where}: unknown authorizer {route.auth}")
        api.routes.append(route)
        b.functions[route.function].api_events.append(route)
    if len(b.apis) > 1:
        raise TemplateError(f"one REST API is emulated; the template has {len(b.apis)}: {', '.join(sorted(b.apis))}")


def _report_template_wide(b: _Build, template: dict[str, Any]) -> None:
    """What the template asks of every resource, or of the stack, that the local stack does not do."""
    r = b.r
    if b.traced:
        b.unsupported.append(f"Tracing (X-Ray) of {', '.join(b.traced)} (no X-Ray locally)")
    for architecture, functions in b.architectures.items():
        b.unsupported.append(f"Architectures {architecture} of {len(functions)} functions (runs on the host's CPU)")
    enabled = [(lid, res) for lid, res in r.resources.items() if r.resource_enabled(lid)]
    for lid, res in enabled:
        b.unsupported.extend(f"{lid}: {f} {res[f]}" for f in ("DeletionPolicy", "UpdateReplacePolicy") if f in res)


def _outputs(b: _Build, template: dict[str, Any]) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    for name, o in (template.get("Outputs") or {}).items():
        if o.get("Condition") and not b.r.condition(o["Condition"]):
            continue
        try:
            outputs[name] = b.r.resolve(o.get("Value"))
        except TemplateError as exc:
            b.unsupported.append(f"Output {name}: {exc}")
    return outputs


@dataclass(frozen=True)
class DeployedTemplate:
    """A template as CloudFormation would deploy it, and the parameter values it was read with."""

    parameters: dict[str, Any]
    template: dict[str, Any]
    # SAM renames an AWS::Serverless::LayerVersion <Id><hash of its content>: the template's own names.
    sam_layers: frozenset[str]


def read_template(path: Path, parameter_overrides: Mapping[str, Any]) -> DeployedTemplate:
    """``path`` with AWS::LanguageExtensions expanded (devstack.template.intrinsics), then the AWS::Serverless
    transform (devstack.template.sam); cached per file version and parameters, a copy each call."""
    stat = path.stat()
    overrides = json.dumps(dict(parameter_overrides), sort_keys=True)
    return copy.deepcopy(_read_template(str(path), stat.st_mtime_ns, stat.st_size, overrides))


@functools.lru_cache(maxsize=8)  # the stack and the tests read one file twice (before and after the resources)
def _read_template(path: str, mtime_ns: int, size: int, overrides: str) -> DeployedTemplate:
    parsed = load_template(path)
    params = parameter_values(parsed, json.loads(overrides))
    try:
        expanded = expand_language_extensions(parsed, params, PSEUDO)
        transformed = sam_transform(expanded, params, REGION)
    except (IntrinsicError, SamTransformError) as exc:
        raise TemplateError(str(exc)) from exc
    resources = expanded.get("Resources") or {}
    layers = frozenset(lid for lid, res in resources.items() if res.get("Type") == "AWS::Serverless::LayerVersion")
    return DeployedTemplate(params, transformed, layers)


def _build_resources(b: _Build) -> list[str]:
    """Every enabled resource through its type's builder; the skipped ones, each with why."""
    r = b.r
    skipped: list[str] = []
    for lid, res in sorted(r.resources.items()):  # by name: the transform's order is not the template's
        rtype = str(res.get("Type", ""))
        if not r.resource_enabled(lid):
            skipped.append(f"{lid} ({rtype}): Condition {res.get('Condition')} is false")
            continue
        builder = _BUILDERS.get(rtype)
        if builder is None:
            what = _NOT_ENFORCED_TYPES.get(rtype, "unknown resource type, not emulated")
            b.unsupported.append(f"{lid} ({rtype}): {what}")
            continue
        raw = res.get("Properties") or {}
        builder(b, lid, r.resolve(raw), raw)
    return skipped


def load_stack_model(
    path: str | Path = "template.yaml",
    parameter_overrides: Mapping[str, Any] | None = None,
    *,
    endpoint: str = DEFAULT_ENDPOINT,
    physical_overrides: Mapping[str, str] | None = None,
) -> StackModel:
    """Resolve ``path`` into a :class:`StackModel`.

    ``physical_overrides`` maps ``"Logical"`` (Ref) or ``"Logical.Attr"`` (GetAtt) to the real value
    the emulator assigned (e.g. ``{"OrdersTable.StreamArn": "arn:...", "JwtSecret": "arn:..."}``).
    """
    tpath = Path(path).resolve()
    deployed = read_template(tpath, parameter_overrides or {})
    template = deployed.template
    r = Resolver(template, deployed.parameters, endpoint, physical_overrides or {}, tpath.parent)
    b = _Build(r, tpath.parent, sam_layers=deployed.sam_layers)
    skipped = _build_resources(b)
    _link_event_sources(b)
    _link_routes(b)
    _report_template_wide(b, template)
    return StackModel(
        template_path=tpath,
        root=tpath.parent,
        parameters=r.params,
        conditions=dict(r.conditions),
        functions=b.functions,
        tables=b.tables,
        queues=b.queues,
        topics=b.topics,
        subscriptions=b.subscriptions,
        secrets=b.secrets,
        state_machines=b.state_machines,
        apis=b.apis,
        layers=b.layers,
        unsupported=b.unsupported,
        skipped=skipped,
        outputs=_outputs(b, template),
    )
