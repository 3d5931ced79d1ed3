"""AWS::StepFunctions::StateMachine with its definition substitutions."""

from __future__ import annotations

import json
from typing import Any

from devstack.template.builders.base import Build
from devstack.template.model import (
    StateMachineModel,
    TemplateError,
)
from devstack.template.resolver import as_bool


def _state_machine_definition(b: Build, lid: str, props: dict[str, Any]) -> str:
    if "DefinitionS3Location" in props:
        location = props["DefinitionS3Location"]
        return b.r.local_path(lid, location.get("Bucket"), location.get("Key")).read_text(encoding="utf-8")
    if "DefinitionString" in props:
        return str(props["DefinitionString"])
    return json.dumps(props.get("Definition") or {})


def build_state_machine(b: Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
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
    if as_bool((props.get("TracingConfiguration") or {}).get("Enabled")):
        b.unsupported.append(f"{lid}: Tracing (no X-Ray locally)")
    if props.get("LoggingConfiguration"):
        b.unsupported.append(f"{lid}: Logging")
