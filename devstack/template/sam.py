"""The AWS::Serverless transform, run offline by the SAM translator, as CloudFormation runs it on deploy.

The local stack builds its model from what the transform produces (AWS::Lambda::Function,
AWS::Lambda::EventSourceMapping, AWS::ApiGateway::RestApi with its OpenAPI body, AWS::ApiGateway::Stage,
AWS::StepFunctions::StateMachine, AWS::Lambda::LayerVersion, ...), so Globals, implicit resources and
event sources are SAM's own. Local code paths stand in for S3 the way `sam package` uploads them: the
object key is the path, relative to the template, which the local stack reads back.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Where `sam package` would upload local code and definitions; the key keeps the local path.
LOCAL_BUCKET = "devstack-local-artifacts"
_LOCAL_URI_PROPERTIES = ("CodeUri", "ContentUri", "DefinitionUri")

# Managed policies SAM attaches by itself, by name: the translator would otherwise look them up in IAM.
KNOWN_MANAGED_POLICIES = {
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "AWSLambdaSQSQueueExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
    "AWSLambdaDynamoDBExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
}


class SamTransformError(Exception):
    """The SAM translator refused the template; the message is its own."""


def _packaged(properties: dict[str, Any]) -> None:
    for key in _LOCAL_URI_PROPERTIES:
        uri = properties.get(key)
        if isinstance(uri, str) and not uri.startswith("s3://"):
            properties[key] = f"s3://{LOCAL_BUCKET}/{uri.strip('/') or '.'}"


def packaged(template: dict[str, Any]) -> dict[str, Any]:
    """``template`` with local code and definition paths as the S3 locations `sam package` would give them."""
    out = copy.deepcopy(template)
    for resource in (out.get("Resources") or {}).values():
        if isinstance(resource, dict) and isinstance(resource.get("Properties"), dict):
            _packaged(resource["Properties"])
    for section in ((out.get("Globals") or {}).values()) if isinstance(out.get("Globals"), dict) else ():
        if isinstance(section, dict):
            _packaged(section)
    return out


def local_path(root: Path, bucket: Any, key: Any) -> Path:
    """The local file or folder an S3 location of :func:`packaged` stands for."""
    if bucket != LOCAL_BUCKET or not isinstance(key, str):
        raise SamTransformError(f"s3://{bucket}/{key}: not local code of the template (code in S3 is not emulated)")
    return (root / key).resolve()


def sam_transform(template: dict[str, Any], parameters: Mapping[str, Any], region: str) -> dict[str, Any]:
    """``template`` (local paths packaged) after the AWS::Serverless transform, deployed in ``region``."""
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException, InvalidResourceException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.arn_generator import ArnGenerator
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template

    # As `sam validate` runs it: the region given, never read from the AWS configuration.
    ArnGenerator.BOTO_SESSION_REGION_NAME = region
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    # The translator logs feature-toggle lookups it cannot make offline; they say nothing about the template.
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    fragment, values = packaged(template), dict(parameters)
    to_py27_compatible_template(fragment, values)
    try:
        out = translator.translate(fragment, parameter_values=values, get_managed_policy_map=_managed_policies)
    except InvalidDocumentException as exc:
        causes = "; ".join(cause.message for cause in exc.causes) or exc.message
        raise SamTransformError(f"SAM transform: {causes}") from exc
    except InvalidResourceException as exc:
        raise SamTransformError(f"SAM transform: {exc.message}") from exc
    return dict(undo_mark_unicode_str_in_template(out))


def _managed_policies() -> dict[str, str]:
    return KNOWN_MANAGED_POLICIES
