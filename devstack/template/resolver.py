"""Parameters, conditions and intrinsic functions resolved to the local stack's names, ARNs and URLs.

Intrinsic functions are resolved by SAM CLI's resolver (devstack.template.intrinsics); this module answers what it
asks of resources. Physical names are ``{StackName}-{LogicalId}`` unless the template names the resource.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from devstack.template.intrinsics import IntrinsicError, Intrinsics, PseudoParameterValues
from devstack.template.model import (
    ACCOUNT_ID,
    PARTITION,
    PSEUDO_PARAMS,
    REGION,
    REST_API_ID,
    STACK_NAME,
    TemplateError,
)
from devstack.template.sam import SamTransformError, local_path


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


def as_int(v: Any, default: int) -> int:
    if v is None:
        return default
    return int(str(v))


def as_bool(v: Any) -> bool:
    return v is True or str(v).lower() == "true"


def strip_quotes(v: Any) -> str:
    s = str(v)
    if len(s) >= 2 and s[0] == s[-1] == "'":
        return s[1:-1]
    return s
