"""Read a SAM/CloudFormation template (cached), build each resource, link them: the typed model of the local stack.

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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.template.builders import BUILDERS, NOT_ENFORCED_TYPES
from devstack.template.builders.base import Build
from devstack.template.builders.events import link_schedules
from devstack.template.builders.lambda_ import sqs_source, stream_source
from devstack.template.intrinsics import IntrinsicError, expand_language_extensions
from devstack.template.model import (
    DEFAULT_ENDPOINT,
    REGION,
    FunctionModel,
    StackModel,
    TemplateError,
)
from devstack.template.resolver import PSEUDO, Resolver, parameter_values
from devstack.template.sam import SamTransformError, sam_transform

# --------------------------------------------------------------------------- reading the template


def load_template(path: str | Path) -> dict[str, Any]:
    """The template as the SAM translator parses it (short tags such as ``!Ref`` become their long form)."""
    from samtranslator.yaml_helper import yaml_parse

    data = yaml_parse(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: not a template")
    return data


# --------------------------------------------------------------------------- links between resources


def _function_of(b: Build, reference: str, where: str) -> FunctionModel:
    """The function a mapping's FunctionName, or an integration or authorizer URI, names (a name or an ARN)."""
    for fn in b.functions.values():
        if reference in (fn.name, fn.arn) or f"/functions/{fn.arn}/invocations" in reference:
            return fn
    raise TemplateError(f"{where}: {reference} is no function of the template")


def _link_mapping(b: Build, lid: str, props: dict[str, Any], table_by_stream: dict[str, str]) -> None:
    fn = _function_of(b, str(props.get("FunctionName")), lid)
    name = lid.removeprefix(fn.logical_id) or lid  # SAM names a mapping <Function><Event>
    source = str(props.get("EventSourceArn"))
    queue = b.queue_by_arn(source)
    if queue is not None:
        fn.sqs_events.append(sqs_source(b, name, queue, props, f"{fn.logical_id}.{name}"))
        return
    table = table_by_stream.get(source) or next(
        (t.logical_id for t in b.tables.values() if source.startswith(t.arn + "/stream/")), None
    )
    if table is None:
        raise TemplateError(f"{lid}: event source {source} is no queue or table stream of the template")
    fn.stream_events.append(stream_source(b, name, table, props, f"{fn.logical_id}.{name}"))


def _link_event_sources(b: Build) -> None:
    table_by_stream = {str(b.r.get_att(lid, "StreamArn")): lid for lid in b.tables}
    for lid, props, _raw in b.mappings:
        _link_mapping(b, lid, props, table_by_stream)
    link_schedules(b)
    for q in b.queues.values():
        if q.redrive:
            dlq = b.queue_by_arn(q.redrive.dead_letter_arn)
            if dlq is not None:
                q.redrive.dead_letter_queue = dlq.logical_id


def _link_routes(b: Build) -> None:
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


def _report_template_wide(b: Build, template: dict[str, Any]) -> None:
    """What the template asks of every resource, or of the stack, that the local stack does not do."""
    r = b.r
    if b.traced:
        b.unsupported.append(f"Tracing (X-Ray) of {', '.join(b.traced)} (no X-Ray locally)")
    for architecture, functions in b.architectures.items():
        b.unsupported.append(f"Architectures {architecture} of {len(functions)} functions (runs on the host's CPU)")
    enabled = [(lid, res) for lid, res in r.resources.items() if r.resource_enabled(lid)]
    for lid, res in enabled:
        b.unsupported.extend(f"{lid}: {f} {res[f]}" for f in ("DeletionPolicy", "UpdateReplacePolicy") if f in res)


def _outputs(b: Build, template: dict[str, Any]) -> dict[str, Any]:
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


def _build_resources(b: Build) -> list[str]:
    """Every enabled resource through its type's builder; the skipped ones, each with why."""
    r = b.r
    skipped: list[str] = []
    for lid, res in sorted(r.resources.items()):  # by name: the transform's order is not the template's
        rtype = str(res.get("Type", ""))
        if not r.resource_enabled(lid):
            skipped.append(f"{lid} ({rtype}): Condition {res.get('Condition')} is false")
            continue
        builder = BUILDERS.get(rtype)
        if builder is None:
            what = NOT_ENFORCED_TYPES.get(rtype, "unknown resource type, not emulated")
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
    b = Build(r, tpath.parent, sam_layers=deployed.sam_layers)
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
