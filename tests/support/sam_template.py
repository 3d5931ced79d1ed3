"""template.yaml as CloudFormation receives it: after its two transforms, with small readers over the result.

template.yaml is transformed offline, in CloudFormation's order: AWS::LanguageExtensions first (Fn::ForEach,
Fn::ToJsonString, Fn::FindInMap, by SAM CLI's processor, samcli.lib.cfn_language_extensions), then the SAM
translator (aws-sam-translator, the library behind `sam validate` and the AWS::Serverless transform) with a
stub managed-policy loader, so no AWS account is needed.

Tests learn the template's facts (functions, environments, event sources, subscriptions, routes, the state
machine's definition) here, not from the local stack's own reading of the template (devstack.template):
if that reading were wrong, tests built on it would agree with it. References stay what CloudFormation gets,
intrinsics: an environment variable "is the OrdersTopic" when its value is {"Ref": "OrdersTopic"}.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
# Where `sam package` would put local code and definitions; the key keeps the local path.
ARTIFACT_BUCKET = "packaged-artifacts"

# Managed policies SAM attaches by itself; names (not ARNs) a template might use resolve through this map.
KNOWN_MANAGED_POLICIES = {
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "AWSLambdaSQSQueueExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
    "AWSLambdaDynamoDBExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
}


class _StubManagedPolicyLoader:
    """The managed policies SAM would look up in IAM, from KNOWN_MANAGED_POLICIES: no AWS account needed."""

    def load(self) -> dict[str, str]:
        return KNOWN_MANAGED_POLICIES


def _packaged(template: dict[str, Any]) -> dict[str, Any]:
    """What `sam package` does: local code and definition paths become S3 locations.

    The key keeps the local path, so tests can find a function's code (tests/support/iam_calls.py)."""
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://{ARTIFACT_BUCKET}/" + props[key].strip("/")
    return template


LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
# What the AWS::LanguageExtensions transform itself evaluates (Fn::ForEach aside); every other intrinsic is left
# to CloudFormation, as the transform leaves it.
_EXTENSION_FUNCTIONS = ("Fn::ToJsonString", "Fn::Length", "Fn::FindInMap")


def expand_language_extensions(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """What the AWS::LanguageExtensions transform hands the SAM transform: Fn::ForEach loops expanded, the
    extension functions evaluated, the transform removed from Transform. A template without it is returned as is.

    SAM CLI's processor does the work (its ForEachProcessor and intrinsic resolvers). Not its one-call entry
    points (expand_language_extensions, process_template_for_sam_cli): they go on to evaluate every intrinsic
    they can for a local run, parameters and conditions baked in, and an Fn::Sub naming a resource comes out as
    a plain string that still reads "${Resource}" - no longer the template CloudFormation deploys.
    """
    from samcli.lib.cfn_language_extensions import (
        ProcessingPipeline,
        ResolutionMode,
        TemplateParsingProcessor,
        TemplateProcessingContext,
        check_using_language_extension,
        create_default_intrinsic_resolver,
    )
    from samcli.lib.cfn_language_extensions.processors import ForEachProcessor

    if not check_using_language_extension(template):
        return template
    context = TemplateProcessingContext(
        fragment=json.loads(json.dumps(template)),
        parameter_values=dict(parameters),
        resolution_mode=ResolutionMode.PARTIAL,
    )
    resolver = create_default_intrinsic_resolver(context)
    expanded = ProcessingPipeline(
        [TemplateParsingProcessor(), ForEachProcessor(intrinsic_resolver=resolver)]
    ).process_template(context)

    def evaluate(node: Any) -> Any:
        if isinstance(node, list):
            return [evaluate(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1 and next(iter(node)) in _EXTENSION_FUNCTIONS:
            value = resolver.resolve_value(node)
            if "Fn::ToJsonString" in node:
                return _json_string(value)
            return value
        return {key: evaluate(value) for key, value in node.items()}

    for section in ("Resources", "Outputs"):
        if section in expanded:
            expanded[section] = evaluate(expanded[section])
    transforms = expanded.get("Transform")
    transforms = [transforms] if isinstance(transforms, str) else list(transforms or [])
    rest = [name for name in transforms if name != LANGUAGE_EXTENSIONS]
    expanded.pop("Transform", None)
    if rest:
        expanded["Transform"] = rest[0] if len(rest) == 1 else rest
    return expanded


def _json_string(text: Any) -> Any:
    """An evaluated Fn::ToJsonString: the JSON text, as an Fn::Sub where it names a resource (`${Resource}`), as
    CloudFormation defers what the transform cannot know. A resource written as !Ref or !GetAtt inside it is
    refused: SAM CLI's processor would leave the intrinsic in the JSON as an object."""

    def intrinsics(node: Any) -> list[Any]:
        if isinstance(node, list):
            return [found for item in node for found in intrinsics(item)]
        if isinstance(node, dict):
            if len(node) == 1 and (next(iter(node)) == "Ref" or next(iter(node)).startswith("Fn::")):
                return [node]
            return [found for value in node.values() for found in intrinsics(value)]
        return []

    assert isinstance(text, str), text
    left = intrinsics(json.loads(text))
    assert not left, f'Fn::ToJsonString: write resources as !Sub "${{Name}}" strings, not {left}'
    return {"Fn::Sub": text} if re.search(r"\$\{[^}]+\}", text) else text


@functools.cache
def _transform(template: Path, parameters: tuple[tuple[str, str], ...], nested: bool = True) -> dict[str, Any]:
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    parsed = expand_language_extensions(yaml_parse(template.read_text(encoding="utf-8")), dict(parameters))
    try:
        out: dict[str, Any] = transform(_packaged(parsed), dict(parameters), _StubManagedPolicyLoader())
    except Exception as exc:
        pytest.fail(f"SAM transform failed: {exc}")
    out = json.loads(json.dumps(out))  # plain JSON types, as CloudFormation receives them
    return inline_nested_stacks(out, template.parent) if nested else out


def nested_stacks(template: dict[str, Any], base: Path = ROOT) -> dict[str, tuple[Path, dict[str, Any]]]:
    """logical id -> (local template, Parameters) of every nested stack written with a Location local to `base`
    (the parent template's directory)."""
    stacks = {}
    for lid, res in template["Resources"].items():
        if res["Type"] == "AWS::CloudFormation::Stack" and not str(res["Properties"]["TemplateURL"]).startswith("http"):
            stacks[lid] = (base / res["Properties"]["TemplateURL"], res["Properties"].get("Parameters") or {})
    return stacks


def _sub_name(value: Any) -> str:
    """What a parent's Ref or GetAtt is written as inside an Fn::Sub string."""
    target = referenced_id(value)
    return target if set(value) == {"Ref"} else f"{target}.{value['Fn::GetAtt'][1]}"


def _substituted(node: Any, passed: dict[str, Any]) -> Any:
    """A nested template's node with its parameters replaced by what the parent passes them."""
    if isinstance(node, list):
        return [_substituted(item, passed) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"} and node["Ref"] in passed:
        return passed[node["Ref"]]
    if set(node) == {"Fn::Sub"}:
        text, variables = node["Fn::Sub"] if isinstance(node["Fn::Sub"], list) else (node["Fn::Sub"], None)
        text = re.sub(r"\$\{(\w+)\}", lambda m: f"${{{_sub_name(passed[m[1]])}}}" if m[1] in passed else m[0], text)
        return {"Fn::Sub": text if variables is None else [text, _substituted(variables, passed)]}
    return {key: _substituted(value, passed) for key, value in node.items()}


def inline_nested_stacks(template: dict[str, Any], base: Path = ROOT) -> dict[str, Any]:
    """The parent with each local nested stack's resources, conditions and mappings in it, as if written there:
    its parameters replaced by what the parent passes (`${ParentStackName}` is `${AWS::StackName}` again), and
    the parent's GetAtt of its outputs by the outputs' values. What the stacks deploy together, read as one
    template, so tests keep asking the same questions of it whichever stack holds a resource."""
    from samtranslator.yaml_helper import yaml_parse

    for lid, (path, parameters) in nested_stacks(template, base).items():
        child = expand_language_extensions(yaml_parse(path.read_text(encoding="utf-8")), {})
        assert set(parameters) == set(child.get("Parameters") or {}), (lid, "parameters passed and declared differ")
        for section in ("Resources", "Conditions", "Mappings"):
            clash = set(child.get(section) or {}) & set(template.get(section) or {})
            assert not clash, f"{path.name} and the parent both define {section} {clash}"
            template.setdefault(section, {}).update(_substituted(child.get(section) or {}, parameters))
        outputs = {f"Outputs.{k}": _substituted(o["Value"], parameters) for k, o in child["Outputs"].items()}
        del template["Resources"][lid]

        def output_of(node: Any, lid: str = lid, outputs: dict[str, Any] = outputs) -> Any:
            if isinstance(node, list):
                return [output_of(item) for item in node]
            if not isinstance(node, dict):
                return node
            if set(node) == {"Fn::GetAtt"} and node["Fn::GetAtt"][0] == lid:
                return outputs[node["Fn::GetAtt"][1]]
            if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
                return {
                    "Fn::Sub": re.sub(
                        rf"\$\{{{lid}\.(Outputs\.\w+)\}}", lambda m: f"${{{_sub_name(outputs[m[1]])}}}", node["Fn::Sub"]
                    )
                }
            return {key: output_of(value) for key, value in node.items()}

        template["Resources"] = output_of(template["Resources"])
        template["Outputs"] = output_of(template.get("Outputs") or {})
    return template


def transformed_template(*, nested: bool = True, **parameters: str) -> dict[str, Any]:
    """template.yaml after the SAM transform (AWS::Serverless::* expanded), for the given parameters; with its
    nested stacks inlined (inline_nested_stacks), unless nested=False.

    Cached: callers that change the result must copy it first.
    """
    return _transform(TEMPLATE, tuple(sorted(parameters.items())), nested)


# ------------------------------------------------------------------ intrinsics


def referenced_id(node: Any) -> str:
    """The logical id a {"Ref": X} or {"Fn::GetAtt": [X, attribute]} names."""
    if isinstance(node, dict) and set(node) == {"Ref"}:
        return str(node["Ref"])
    if isinstance(node, dict) and set(node) == {"Fn::GetAtt"}:
        target = node["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else target.split(".", 1)[0])
    raise AssertionError(f"not a Ref or GetAtt: {node!r}")


def _sub_function(uri: Any) -> str:
    """The function an API integration's Fn::Sub URI invokes (`${Name.Arn}`)."""
    text = uri["Fn::Sub"] if isinstance(uri, dict) else uri
    text = text[0] if isinstance(text, list) else text
    (name,) = re.findall(r"\$\{(\w+)\.Arn\}", text)
    return str(name)


# ------------------------------------------------------------------ readers


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler: str
    timeout: int
    env: dict[str, Any]  # name -> value as deployed (a string or an intrinsic); AWS::NoValue dropped


@dataclass(frozen=True)
class EventSource:
    """An AWS::Lambda::EventSourceMapping: a queue or a table's stream feeding a function."""

    logical_id: str
    function: str
    source_arn: Any  # as deployed: {"Fn::GetAtt": [queue, "Arn"]} or {"Fn::GetAtt": [table, "StreamArn"]}
    source: str  # logical id of the queue or table
    kind: str  # "sqs" or "dynamodb-stream"
    response_types: tuple[str, ...]
    filter_criteria: dict[str, Any] | None


@dataclass(frozen=True)
class Subscription:
    logical_id: str
    topic_arn: Any  # as deployed, e.g. {"Ref": "OrdersTopic"}
    protocol: str
    endpoint: Any  # as deployed, e.g. {"Fn::GetAtt": ["PaymentsInbox", "Arn"]}
    filter_policy: dict[str, Any] | None

    @property
    def queue(self) -> str | None:
        """The logical id of the queue an sqs subscription delivers to."""
        return referenced_id(self.endpoint) if self.protocol == "sqs" else None


@dataclass(frozen=True)
class Route:
    api: str
    method: str  # upper case, as in an HTTP request
    path: str
    function: str
    auth: str  # the security scheme's name, "NONE" for an open route


@dataclass(frozen=True)
class Authorizer:
    type: str  # "token" or "request", as API Gateway's OpenAPI extension spells it
    identity_header: str
    ttl: int
    function: str


@dataclass
class SamTemplate:
    """The transformed template for one set of parameter values, and what tests read from it."""

    template: dict[str, Any]
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.template["Resources"]
        return resources

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """logical id -> Properties of every resource of the type."""
        return {lid: res.get("Properties") or {} for lid, res in self.resources.items() if res["Type"] == resource_type}

    def parameter(self, name: str) -> Any:
        """A parameter's value: the override given, else its Default."""
        if name in self.parameters:
            return self.parameters[name]
        return self.template["Parameters"][name]["Default"]

    def value(self, node: Any) -> Any:
        """`node` with what the parameters decide filled in: a Ref to a parameter, and an Fn::Sub over parameters.

        Anything else (a Ref to a resource, a GetAtt, a condition) stays the intrinsic it is.
        """
        if isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in self.template.get("Parameters", {}):
            return self.parameter(node["Ref"])
        if isinstance(node, dict) and set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
            names = set(re.findall(r"\$\{([\w:]+)\}", node["Fn::Sub"]))
            if names <= set(self.template.get("Parameters", {})):
                return re.sub(r"\$\{(\w+)\}", lambda m: str(self.parameter(m.group(1))), node["Fn::Sub"])
        return node

    # -------------------------------------------------------------- functions and their sources

    @functools.cached_property
    def functions(self) -> dict[str, Function]:
        functions = {}
        for lid, props in self.of_type("AWS::Lambda::Function").items():
            variables = (props.get("Environment") or {}).get("Variables") or {}
            functions[lid] = Function(
                logical_id=lid,
                handler=props["Handler"],
                timeout=int(self.value(props["Timeout"])),
                env={k: v for k, v in variables.items() if v != {"Ref": "AWS::NoValue"}},
            )
        return functions

    def import_environment(self, logical_id: str) -> dict[str, str]:
        """A function's variables, enough to import its code: each value where the parameters decide it, a
        stand-in string where a resource's name or ARN goes (no resource exists here)."""
        env = {}
        for name, node in self.functions[logical_id].env.items():
            value = self.value(node)
            env[name] = str(value) if isinstance(value, str | int) and value != "" else "configured"
        return env

    @functools.cached_property
    def event_sources(self) -> list[EventSource]:
        sources = []
        for lid, props in self.of_type("AWS::Lambda::EventSourceMapping").items():
            source = referenced_id(props["EventSourceArn"])
            kind = {"AWS::SQS::Queue": "sqs", "AWS::DynamoDB::Table": "dynamodb-stream"}[self.resources[source]["Type"]]
            attribute = {"sqs": "Arn", "dynamodb-stream": "StreamArn"}[kind]
            assert props["EventSourceArn"] == {"Fn::GetAtt": [source, attribute]}, (lid, props["EventSourceArn"])
            sources.append(
                EventSource(
                    logical_id=lid,
                    function=referenced_id(props["FunctionName"]),
                    source_arn=props["EventSourceArn"],
                    source=source,
                    kind=kind,
                    response_types=tuple(props.get("FunctionResponseTypes") or ()),
                    filter_criteria=props.get("FilterCriteria"),
                )
            )
        return sources

    def sources_of(self, function: str, kind: str) -> list[EventSource]:
        return [s for s in self.event_sources if s.function == function and s.kind == kind]

    # -------------------------------------------------------------- topics and queues

    @functools.cached_property
    def subscriptions(self) -> dict[str, Subscription]:
        subscriptions = {}
        for lid, props in self.of_type("AWS::SNS::Subscription").items():
            subscriptions[lid] = Subscription(
                logical_id=lid,
                topic_arn=props["TopicArn"],
                protocol=props["Protocol"],
                endpoint=props["Endpoint"],
                filter_policy=props.get("FilterPolicy"),
            )
        return subscriptions

    def queue_attribute(self, queue: str, name: str) -> Any:
        return self.value(self.resources[queue]["Properties"][name])

    def redrive(self, queue: str) -> tuple[str, int] | None:
        """(dead-letter queue's logical id, maxReceiveCount) of a queue, None without a redrive policy."""
        policy = self.resources[queue]["Properties"].get("RedrivePolicy")
        if policy is None:
            return None
        return referenced_id(policy["deadLetterTargetArn"]), int(self.value(policy["maxReceiveCount"]))

    # -------------------------------------------------------------- the REST API

    def _api_bodies(self) -> dict[str, dict[str, Any]]:
        return {lid: props["Body"] for lid, props in self.of_type("AWS::ApiGateway::RestApi").items()}

    @functools.cached_property
    def routes(self) -> list[Route]:
        routes = []
        for api, body in self._api_bodies().items():
            for path, methods in body["paths"].items():
                for method, operation in methods.items():
                    integration = operation["x-amazon-apigateway-integration"]
                    (security,) = operation.get("security") or [{"NONE": []}]
                    (auth,) = security
                    routes.append(Route(api, method.upper(), path, _sub_function(integration["uri"]), auth))
        return routes

    def authorizer(self, name: str) -> Authorizer:
        (body,) = self._api_bodies().values()
        scheme = body["components"]["securitySchemes"][name]
        settings = scheme["x-amazon-apigateway-authorizer"]
        assert scheme["in"] == "header", scheme
        uri = settings["authorizerUri"]["Fn::Sub"][1]["__FunctionArn__"]
        ttl = int(self.value(settings["authorizerResultTtlInSeconds"]))
        return Authorizer(settings["type"], scheme["name"], ttl, referenced_id(uri))

    def stage_names(self, api: str) -> list[str]:
        stages = self.of_type("AWS::ApiGateway::Stage").values()
        return [s["StageName"] for s in stages if referenced_id(s["RestApiId"]) == api]

    # -------------------------------------------------------------- the state machine

    def state_machine(self, logical_id: str | None = None) -> tuple[str, dict[str, Any]]:
        machines = self.of_type("AWS::StepFunctions::StateMachine")
        if logical_id is None:
            ((logical_id, props),) = machines.items()
            return logical_id, props
        return logical_id, machines[logical_id]

    def definition(
        self, logical_id: str | None = None, *, resource: Callable[[Any], Any] = lambda intrinsic: intrinsic
    ) -> dict[str, Any]:
        """The state machine's definition as Step Functions receives it.

        The DefinitionUri file (its S3 key is the local path), every ${Name} replaced by its
        DefinitionSubstitutions value: a parameter by the parameter's value (a number stays a number where the
        definition writes `${Name}` bare), a resource by `resource(intrinsic)` (by default the intrinsic itself,
        e.g. {"Ref": "OrdersTable"} where the definition says "${OrdersTableName}").
        """
        _, props = self.state_machine(logical_id)
        location = props["DefinitionS3Location"]
        assert location["Bucket"] == ARTIFACT_BUCKET, location
        text = (ROOT / location["Key"]).read_text()
        substitutions = {name: self.value(node) for name, node in (props.get("DefinitionSubstitutions") or {}).items()}
        used = set(re.findall(r"\$\{(\w+)\}", text))
        assert used <= set(substitutions), f"placeholders without a substitution: {used - set(substitutions)}"

        def whole(match: re.Match[str]) -> str:  # "${Name}": the value replaces the JSON string
            value = substitutions[match.group(1)]
            return json.dumps(resource(value) if isinstance(value, dict) else str(value))

        def bare(match: re.Match[str]) -> str:
            value = substitutions[match.group(1)]
            assert not isinstance(value, dict), f"{match.group(0)} is a resource outside a string"
            return str(value)

        text = re.sub(r'"\$\{(\w+)\}"', whole, text)
        loaded: dict[str, Any] = json.loads(re.sub(r"\$\{(\w+)\}", bare, text))
        return loaded


@functools.cache
def _sam_template(parameters: tuple[tuple[str, str], ...]) -> SamTemplate:
    return SamTemplate(_transform(TEMPLATE, parameters), dict(parameters))


def sam_template(**parameters: str) -> SamTemplate:
    """The transformed template (cached) for these parameter values, with its readers."""
    return _sam_template(tuple(sorted(parameters.items())))


def transformed_file(template: Path, **parameters: str) -> SamTemplate:
    """Another template transformed the same way, read afresh (e.g. the one `sam build` writes next to its
    artifacts: each function's Code and each layer's Content then name its directory in the build)."""
    parameter_items = tuple(sorted(parameters.items()))
    return SamTemplate(_transform.__wrapped__(template, parameter_items), dict(parameter_items))
