"""Load a SAM/CloudFormation template and resolve it into a typed model of the local stack.

Everything the local stack runs is derived from here, so it cannot drift from what is deployed.
Intrinsic functions are resolved by SAM CLI's resolver (devstack.intrinsics); this module answers what it
asks of resources. Resolution is deterministic: physical names are ``{StackName}-{LogicalId}`` unless the
template names the resource. Ids that only the AWS emulator knows (stream ARNs, secret ARNs, queue URLs) are passed
in as ``physical_overrides`` on a second pass, once the resources exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.filters import parse_filter_criteria
from devstack.intrinsics import IntrinsicError, Intrinsics, PseudoParameterValues, expand_language_extensions

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


def _sam_globals(template: dict[str, Any]) -> Any:
    """SAM's own Globals: the translator's merge (maps merged, lists concatenated, the resource's own
    scalars win) and its refusal, by name, of a property Globals does not support."""
    from samtranslator.model.exceptions import ExceptionWithMessage
    from samtranslator.plugins.globals.globals import Globals

    try:
        return Globals(template)
    except ExceptionWithMessage as exc:
        raise TemplateError(f"Globals: {exc.message}") from exc


IMPLICIT_API = "ServerlessRestApi"  # SAM's name for the API it creates when an Api event names none


def _route_api(function: str, event: str, props: Mapping[str, Any]) -> str:
    """The logical id of the API an Api event attaches to, read before resolution: a Ref to an API of the
    template, or SAM's implicit API when the event names none."""
    raw = ((props.get("Events") or {}).get(event) or {}).get("Properties") or {}
    api = raw.get("RestApiId")
    if api is None:
        return IMPLICIT_API
    if isinstance(api, dict) and isinstance(api.get("Ref"), str) and len(api) == 1:
        return str(api["Ref"])
    raise TemplateError(f"{function}.{event}: RestApiId must be a Ref to an AWS::Serverless::Api of the template")


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
    default_authorizer: str | None
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
    """Intrinsics through SAM CLI's resolver (devstack.intrinsics); this class answers what it asks of a
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
            "AWS::Serverless::StateMachine": "Name",
            "AWS::StepFunctions::StateMachine": "StateMachineName",
            "AWS::Serverless::Function": "FunctionName",
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
        props = self.resources[name].get("Properties") or {}
        uri = props.get("ContentUri") or props.get("Content") or "."
        return str((self.root / str(self.resolve(uri))).resolve())

    def resolve(self, node: Any) -> Any:
        try:
            return self.intrinsics.resolve(node)
        except IntrinsicError as exc:
            raise TemplateError(str(exc)) from exc


_STATE_MACHINES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
_APIS = ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi")

# What Ref answers per resource type (the physical name when the type is not listed).
_REF_BY_TYPE: dict[str, Callable[[Resolver, str], Any]] = {
    "AWS::SQS::Queue": lambda r, name: f"{r.endpoint}/{ACCOUNT_ID}/{r.physical_name(name)}",
    "AWS::SNS::Topic": Resolver.arn,
    "AWS::SecretsManager::Secret": Resolver.arn,
    "AWS::Serverless::LayerVersion": Resolver.layer_path,
    "AWS::Lambda::LayerVersion": Resolver.layer_path,
    **dict.fromkeys(_STATE_MACHINES, Resolver.arn),
    **dict.fromkeys(_APIS, lambda r, name: REST_API_ID),
}

_ARN_FORMATS = {
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
    "AWS::Serverless::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::SecretsManager::Secret": "arn:aws:secretsmanager:{region}:{account}:secret:{name}",
    **dict.fromkeys(_STATE_MACHINES, "arn:aws:states:{region}:{account}:stateMachine:{name}"),
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
    **{(t, "Name"): Resolver.physical_name for t in _STATE_MACHINES},
    **{(t, "RootResourceId"): (lambda r, name: "root") for t in _APIS},
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
}


@dataclass
class _Build:
    """What the builders fill in, one resource at a time, before the links between resources are made."""

    r: Resolver
    root: Path
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
    routes: list[ApiRoute] = field(default_factory=list)
    traced: list[str] = field(default_factory=list)

    def report(self, where: str, props: Mapping[str, Any], features: Iterable[str], prefix: str = "") -> None:
        """Name each of ``features`` that ``props`` sets: the local stack does not emulate it."""
        self.unsupported.extend(f"{where}: {prefix}{f}" for f in features if f in props)


# --------------------------------------------------------------------------- builders, one per resource type


def _build_layer(b: _Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    b.layers[lid] = Path(b.r.ref(lid))


_FUNCTION_FEATURES_NOT_EMULATED = (
    "ReservedConcurrentExecutions",
    "ProvisionedConcurrencyConfig",
    "VpcConfig",
    "DeadLetterQueue",
    "EventInvokeConfig",
    "AutoPublishAlias",
    "DeploymentPreference",
    "FunctionUrlConfig",
    "SnapStart",
    "EphemeralStorage",
)


def _build_function(b: _Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    layer_dirs = []
    for layer in props.get("Layers") or []:
        if Path(str(layer)).is_dir():
            layer_dirs.append(Path(str(layer)))
        else:
            b.unsupported.append(f"{lid}: layer {layer} is not a local layer of the template")
    fn = FunctionModel(
        logical_id=lid,
        name=b.r.physical_name(lid),
        arn=b.r.arn(lid),
        code_uri=(b.root / str(props.get("CodeUri", "."))).resolve(),
        handler=str(props.get("Handler", "")),
        runtime=str(props.get("Runtime", "python3.11")),
        timeout=_as_int(props.get("Timeout"), 3),
        memory=_as_int(props.get("MemorySize"), 128),
        env={k: str(v) for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items()},
        layers=layer_dirs,
    )
    if props.get("Tracing") and str(props["Tracing"]) != "PassThrough":
        b.traced.append(lid)
    b.report(lid, props, _FUNCTION_FEATURES_NOT_EMULATED)
    for ename, ev in (props.get("Events") or {}).items():
        event_builder = _EVENT_BUILDERS.get(ev.get("Type"))
        if event_builder is None:
            b.unsupported.append(f"{lid}.{ename}: event type {ev.get('Type')} not emulated")
        else:
            event_builder(b, fn, ename, ev.get("Properties") or {}, raw)
    b.functions[lid] = fn


def _api_event(b: _Build, fn: FunctionModel, ename: str, ep: dict[str, Any], raw: dict[str, Any]) -> None:
    auth = (ep.get("Auth") or {}).get("Authorizer")
    b.routes.append(
        ApiRoute(
            method=str(ep.get("Method", "ANY")).upper(),
            path=str(ep.get("Path", "/")),
            function=fn.logical_id,
            auth=str(auth) if auth else "",
            api=_route_api(fn.logical_id, ename, raw),
        )
    )


def _sqs_event(b: _Build, fn: FunctionModel, ename: str, ep: dict[str, Any], raw: dict[str, Any]) -> None:
    fn.sqs_events.append(
        SqsEventSource(
            name=ename,
            queue="",
            queue_arn=str(ep.get("Queue")),
            batch_size=_as_int(ep.get("BatchSize"), 10),
            report_batch_item_failures="ReportBatchItemFailures" in (ep.get("FunctionResponseTypes") or []),
            maximum_batching_window=_as_int(ep.get("MaximumBatchingWindowInSeconds"), 0),
            enabled=_as_bool(ep.get("Enabled", True)),
        )
    )
    b.report(f"{fn.logical_id}.{ename}", ep, ("FilterCriteria", "ScalingConfig"), prefix="SQS event ")


def _stream_event(b: _Build, fn: FunctionModel, ename: str, ep: dict[str, Any], raw: dict[str, Any]) -> None:
    where = f"{fn.logical_id}.{ename}"
    dest = ((ep.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    fn.stream_events.append(
        StreamEventSource(
            name=ename,
            table="",
            stream_arn=str(ep.get("Stream")),
            starting_position=str(ep.get("StartingPosition", "LATEST")),
            batch_size=_as_int(ep.get("BatchSize"), 100),
            maximum_retry_attempts=_as_int(ep.get("MaximumRetryAttempts"), -1),
            maximum_record_age=_as_int(ep.get("MaximumRecordAgeInSeconds"), -1),
            bisect_on_error=_as_bool(ep.get("BisectBatchOnFunctionError", False)),
            report_batch_item_failures="ReportBatchItemFailures" in (ep.get("FunctionResponseTypes") or []),
            on_failure_destination=str(dest) if dest else None,
            enabled=_as_bool(ep.get("Enabled", True)),
            filters=parse_filter_criteria(ep["FilterCriteria"], where) if "FilterCriteria" in ep else [],
        )
    )
    b.report(where, ep, ("ParallelizationFactor", "TumblingWindowInSeconds"), prefix="stream event ")
    if _as_int(ep.get("MaximumBatchingWindowInSeconds"), 0):
        b.unsupported.append(f"{where}: MaximumBatchingWindowInSeconds (invokes at once)")


_EVENT_BUILDERS: dict[Any, Callable[[_Build, FunctionModel, str, dict[str, Any], dict[str, Any]], None]] = {
    "Api": _api_event,
    "SQS": _sqs_event,
    "DynamoDB": _stream_event,
}


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


def _build_state_machine(b: _Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    if "DefinitionUri" in props:
        text = (b.root / str(props["DefinitionUri"])).read_text(encoding="utf-8")
    else:
        text = json.dumps(props.get("Definition") or {})
    for k, v in (props.get("DefinitionSubstitutions") or {}).items():
        text = text.replace("${" + k + "}", str(v))
    try:
        definition = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{lid}: definition is not JSON after substitutions: {exc}") from exc
    b.state_machines[lid] = StateMachineModel(
        lid, b.r.physical_name(lid), b.r.arn(lid), str(props.get("Type", "STANDARD")), definition
    )
    if _as_bool((props.get("Tracing") or {}).get("Enabled")):
        b.unsupported.append(f"{lid}: Tracing (no X-Ray locally)")
    if props.get("Logging"):
        b.unsupported.append(f"{lid}: Logging")
    if props.get("Events"):
        b.unsupported.append(f"{lid}: Events (state machine triggers)")


def _authorizer(b: _Build, lid: str, name: str, a: dict[str, Any]) -> AuthorizerModel:
    fn_arn = str(a.get("FunctionArn", ""))
    functions = (k for k in b.r.resources if b.r.resource_enabled(k) and b.r.rtype(k) == "AWS::Serverless::Function")
    payload_type = str(a.get("FunctionPayloadType", "TOKEN"))
    if payload_type != "TOKEN":
        b.unsupported.append(f"{lid}: authorizer {name} payload type {payload_type} (only TOKEN)")
    if "UserPoolArn" in a:
        b.unsupported.append(f"{lid}: Cognito authorizer {name}")
    identity = a.get("Identity") or {}
    return AuthorizerModel(
        name=name,
        function=next((k for k in functions if b.r.arn(k) == fn_arn), fn_arn),
        payload_type=payload_type,
        identity_header=str(identity.get("Header", "Authorization")),
        ttl=_as_int(identity.get("ReauthorizeEvery"), 300),
    )


def _gateway_response(g: dict[str, Any]) -> GatewayResponse:
    headers = {k: _strip_quotes(v) for k, v in ((g.get("ResponseParameters") or {}).get("Headers") or {}).items()}
    templates = g.get("ResponseTemplates") or {}
    body = templates.get("application/json") or next(iter(templates.values()), "")
    return GatewayResponse(status=_as_int(g.get("StatusCode"), 0), headers=headers, body=str(body))


_API_FEATURES_NOT_EMULATED = (
    "Cors",
    "CacheClusterEnabled",
    "AccessLogSetting",
    "Domain",
    "UsagePlan",
    "BinaryMediaTypes",
    "DefinitionBody",
    "DefinitionUri",
    "EndpointConfiguration",
    "Models",
    "CanarySetting",
)


def _build_api(b: _Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    auth = props.get("Auth") or {}
    compression = props.get("MinimumCompressionSize")
    b.apis[lid] = ApiModel(
        logical_id=lid,
        stage_name=str(props.get("StageName", "Prod")),
        routes=[],
        default_authorizer=auth.get("DefaultAuthorizer"),
        authorizers={name: _authorizer(b, lid, name, a) for name, a in (auth.get("Authorizers") or {}).items()},
        gateway_responses={name: _gateway_response(g) for name, g in (props.get("GatewayResponses") or {}).items()},
        minimum_compression_size=_as_int(compression, 0) if "MinimumCompressionSize" in props else None,
    )
    if _as_bool(props.get("TracingEnabled")):
        b.unsupported.append(f"{lid}: TracingEnabled (no X-Ray locally)")
    if props.get("MethodSettings"):
        b.unsupported.append(f"{lid}: MethodSettings (throttling, metrics)")
    b.report(lid, props, _API_FEATURES_NOT_EMULATED)
    if auth.get("ResourcePolicy") or auth.get("ApiKeyRequired") or auth.get("UsagePlan"):
        b.unsupported.append(f"{lid}: Auth resource policy / API keys / usage plan")


_BUILDERS: dict[str, Callable[[_Build, str, dict[str, Any], dict[str, Any]], None]] = {
    "AWS::Serverless::LayerVersion": _build_layer,
    "AWS::Serverless::Function": _build_function,
    "AWS::Serverless::Api": _build_api,
    "AWS::Serverless::StateMachine": _build_state_machine,
    "AWS::DynamoDB::Table": _build_table,
    "AWS::SQS::Queue": _build_queue,
    "AWS::SNS::Topic": _build_topic,
    "AWS::SNS::Subscription": _build_subscription,
    "AWS::SecretsManager::Secret": _build_secret,
}
_EMULATED_TYPES = set(_BUILDERS)


# --------------------------------------------------------------------------- links between resources


def _link_event_sources(b: _Build) -> None:
    table_by_stream = {str(b.r.get_att(lid, "StreamArn")): lid for lid in b.tables}
    for fn in b.functions.values():
        for sq in fn.sqs_events:
            q = next((q for q in b.queues.values() if q.arn == sq.queue_arn), None)
            if q is None:
                raise TemplateError(f"{fn.logical_id}.{sq.name}: queue {sq.queue_arn} is not in the template")
            sq.queue = q.logical_id
        for st in fn.stream_events:
            tl = table_by_stream.get(st.stream_arn) or next(
                (t.logical_id for t in b.tables.values() if st.stream_arn.startswith(t.arn + "/stream/")), None
            )
            if tl is None:
                raise TemplateError(f"{fn.logical_id}.{st.name}: stream {st.stream_arn} is not in the template")
            st.table = tl
    for q in b.queues.values():
        if q.redrive:
            dlq = next((d for d in b.queues.values() if d.arn == q.redrive.dead_letter_arn), None)
            if dlq is not None:
                q.redrive.dead_letter_queue = dlq.logical_id


def _link_routes(b: _Build) -> None:
    if any(route.api == IMPLICIT_API for route in b.routes) and IMPLICIT_API not in b.apis:
        b.apis[IMPLICIT_API] = ApiModel(IMPLICIT_API, "Prod", [], None, {}, {})
    for route in b.routes:
        where = f"{route.function}: route {route.method} {route.path}"
        if route.api not in b.apis:
            raise TemplateError(f"{where}: RestApiId {route.api} is not an AWS::Serverless::Api of the template")
        api = b.apis[route.api]
        if not route.auth:
            route.auth = api.default_authorizer or "NONE"
        if route.auth != "NONE" and route.auth not in api.authorizers:
            raise TemplateError(f"{where}: unknown authorizer {route.auth}")
        api.routes.append(route)
        b.functions[route.function].api_events.append(route)
    if len(b.apis) > 1:
        raise TemplateError(f"one REST API is emulated; the template has {len(b.apis)}: {', '.join(b.apis)}")


def _report_template_wide(b: _Build, template: dict[str, Any]) -> None:
    """What the template asks of every resource, or of the stack, that the local stack does not do."""
    r = b.r
    if b.traced:
        b.unsupported.append(f"Tracing (X-Ray) of {', '.join(b.traced)} (no X-Ray locally)")
    architectures = ((template.get("Globals") or {}).get("Function") or {}).get("Architectures")
    if architectures:
        b.unsupported.append(f"Globals.Function.Architectures {architectures} (runs on the host's CPU)")
    enabled = [(lid, res) for lid, res in r.resources.items() if r.resource_enabled(lid)]
    for lid, res in enabled:
        b.unsupported.extend(f"{lid}: {f} {res[f]}" for f in ("DeletionPolicy", "UpdateReplacePolicy") if f in res)
    with_policies = [lid for lid, res in enabled if (res.get("Properties") or {}).get("Policies") is not None]
    if with_policies:
        b.unsupported.append(f"Policies of {', '.join(with_policies)} (IAM is not enforced locally)")


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
    parsed = load_template(tpath)
    params = parameter_values(parsed, parameter_overrides or {})
    try:
        template = expand_language_extensions(parsed, params, PSEUDO)
    except IntrinsicError as exc:
        raise TemplateError(str(exc)) from exc
    r = Resolver(template, params, endpoint, physical_overrides or {}, tpath.parent)
    b = _Build(r, tpath.parent)
    sam_globals = _sam_globals(template)
    skipped: list[str] = []
    for lid, res in r.resources.items():
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
        if rtype.startswith("AWS::Serverless::"):
            raw = sam_globals.merge(rtype, raw, lid, res.get("IgnoreGlobals"))
        builder(b, lid, r.resolve(raw), raw)
    _link_event_sources(b)
    _link_routes(b)
    _report_template_wide(b, template)
    outputs = _outputs(b, template)
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
        outputs=outputs,
    )
