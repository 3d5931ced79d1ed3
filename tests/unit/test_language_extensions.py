"""AWS::LanguageExtensions (Fn::ForEach, Fn::ToJsonString) as the template tests and SAM CLI read it.

tests/support/sam_template.py expands the transform with SAM CLI's processor before the SAM transform, keeping
every intrinsic CloudFormation itself resolves; samconfig.toml turns the expansion on for every SAM CLI command.
"""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from tests.support.sam_template import ROOT, expand_language_extensions


def test_every_sam_cli_configuration_expands_language_extensions():
    """sam build, validate, deploy and local without the flag would hand SAM a template with loops in it."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for env in ("default", "prod"):
        assert config[env]["global"]["parameters"]["language_extensions"] is True, env


# ------------------------------------------------------------------ the expansion the template tests read


def _template(**resources: Any) -> dict[str, Any]:
    return {"Transform": ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"], "Resources": resources}


def test_the_expansion_leaves_a_template_without_the_transform_alone():
    template = {"Transform": "AWS::Serverless-2016-10-31", "Resources": {"Fn::ForEach::Loop": ["X", ["A"], {}]}}
    assert expand_language_extensions(template, {}) is template


def test_the_expansion_keeps_what_cloudformation_resolves():
    expanded = expand_language_extensions(
        _template(
            **{
                "Fn::ForEach::Queues": [
                    "Name",
                    ["Orders", "Payments"],
                    {
                        "${Name}Queue": {
                            "Type": "AWS::SQS::Queue",
                            "Properties": {"QueueName": {"Fn::Sub": "${Name}-${AWS::StackName}"}},
                        }
                    },
                ],
                "Body": {
                    "Type": "AWS::SSM::Parameter",
                    "Properties": {"Value": {"Fn::ToJsonString": {"queue": {"Fn::Sub": "${OrdersQueue}"}, "n": 1}}},
                },
            }
        ),
        {},
    )
    assert expanded["Transform"] == "AWS::Serverless-2016-10-31"
    resources = expanded["Resources"]
    assert sorted(resources) == ["Body", "OrdersQueue", "PaymentsQueue"]
    assert resources["PaymentsQueue"]["Properties"]["QueueName"] == {"Fn::Sub": "Payments-${AWS::StackName}"}
    assert resources["Body"]["Properties"]["Value"] == {"Fn::Sub": '{"queue":"${OrdersQueue}","n":1}'}


def test_the_expansion_refuses_a_resource_reference_that_would_land_in_the_json_as_an_object():
    template = _template(
        Body={"Type": "AWS::SSM::Parameter", "Properties": {"Value": {"Fn::ToJsonString": {"q": {"Ref": "Queue"}}}}}
    )
    with pytest.raises(AssertionError, match="not"):
        expand_language_extensions(template, {})
