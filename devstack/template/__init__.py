"""The template model: ``template.yaml`` read as CloudFormation receives it, in the shape of SAM CLI's providers.

:mod:`.sam` runs the AWS::Serverless transform, :mod:`.intrinsics` resolves intrinsic functions (SAM CLI's
resolver), :mod:`.resolver` answers them with the local stack's names, :mod:`.builders` (one module per service) turn
the resources into the typed model (:mod:`.model`), and :mod:`.loader` reads, caches and links them.
"""

from devstack.template.loader import load_stack_model, load_template
from devstack.template.model import (
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
