"""One builder per CloudFormation type the SAM transform leaves, in the shape of SAM CLI's providers;
every other type is reported by name, never silently skipped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devstack.template.builders.apigateway import build_permission, build_rest_api, build_stage
from devstack.template.builders.base import Build
from devstack.template.builders.dynamodb import build_table
from devstack.template.builders.events import build_rule, build_schedule
from devstack.template.builders.lambda_ import build_event_source_mapping, build_function, build_layer
from devstack.template.builders.secretsmanager import build_secret
from devstack.template.builders.sns import build_subscription, build_topic
from devstack.template.builders.sqs import build_queue
from devstack.template.builders.stepfunctions import build_state_machine

NOT_ENFORCED_TYPES = {
    "AWS::SQS::QueuePolicy": "queue policy (IAM is not enforced locally)",
    "AWS::SNS::TopicPolicy": "topic policy (IAM is not enforced locally)",
    "AWS::IAM::Role": "IAM role (IAM is not enforced locally)",
    "AWS::IAM::Policy": "IAM policy (IAM is not enforced locally)",
    "AWS::Logs::LogGroup": "log group (logs go to .devstack/logs)",
    "AWS::CloudWatch::Alarm": "CloudWatch alarm",
    "AWS::CloudWatch::Dashboard": "CloudWatch dashboard",
    "AWS::CloudFormation::Stack": "nested stack (observability.yaml: alarms, their topic, the dashboard)",
    "AWS::ApiGateway::Account": "API Gateway account setting (no access logs locally)",
    "AWS::CloudFormation::WaitConditionHandle": "creation-order handle (nothing to order locally)",
    "AWS::KMS::Key": "KMS key (no encryption locally)",
    "AWS::ApiGateway::Deployment": "API deployment (the routes are live once the stack starts)",
}


# One builder per CloudFormation type the SAM transform leaves; every other type is reported, not emulated.
BUILDERS: dict[str, Callable[[Build, str, dict[str, Any], dict[str, Any]], None]] = {
    "AWS::Lambda::LayerVersion": build_layer,
    "AWS::Lambda::Function": build_function,
    "AWS::Lambda::EventSourceMapping": build_event_source_mapping,
    "AWS::ApiGateway::RestApi": build_rest_api,
    "AWS::ApiGateway::Stage": build_stage,
    "AWS::StepFunctions::StateMachine": build_state_machine,
    "AWS::DynamoDB::Table": build_table,
    "AWS::SQS::Queue": build_queue,
    "AWS::SNS::Topic": build_topic,
    "AWS::SNS::Subscription": build_subscription,
    "AWS::SecretsManager::Secret": build_secret,
    "AWS::Lambda::Permission": build_permission,
    "AWS::Events::Rule": build_rule,
    "AWS::Scheduler::Schedule": build_schedule,
}
EMULATED_TYPES = set(BUILDERS)
