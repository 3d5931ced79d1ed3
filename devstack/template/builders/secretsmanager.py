"""AWS::SecretsManager::Secret."""

from __future__ import annotations

from typing import Any

from devstack.template.builders.base import Build
from devstack.template.model import (
    SecretModel,
)


def build_secret(b: Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    b.secrets[lid] = SecretModel(
        logical_id=lid,
        name=b.r.physical_name(lid),
        arn=b.r.arn(lid),
        secret_string=props.get("SecretString"),
        generate="GenerateSecretString" in props,
        description=str(props.get("Description", "")),
    )
