"""The template model: ``template.yaml`` read as CloudFormation receives it, in the shape of SAM CLI's providers.

:mod:`.sam` runs the AWS::Serverless transform, :mod:`.intrinsics` resolves intrinsic functions (SAM CLI's
resolver), :mod:`.loader` turns the resources into the typed model the engine runs.
"""

from devstack.template.loader import (
    ACCOUNT_ID,
    REGION,
    REST_API_ID,
    ApiModel,
    ApiRoute,
    FunctionModel,
    GatewayResponse,
    QueueModel,
    SqsEventSource,
    StackModel,
    StreamEventSource,
    TableModel,
    TemplateError,
    load_stack_model,
    load_template,
)

__all__ = [
    "ACCOUNT_ID",
    "REGION",
    "REST_API_ID",
    "ApiModel",
    "ApiRoute",
    "FunctionModel",
    "GatewayResponse",
    "QueueModel",
    "SqsEventSource",
    "StackModel",
    "StreamEventSource",
    "TableModel",
    "TemplateError",
    "load_stack_model",
    "load_template",
]
