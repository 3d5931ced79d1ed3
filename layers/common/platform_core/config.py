"""Configuration comes from environment variables set by template.yaml."""

import os
from typing import TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:  # the pinned mypy-boto3 stubs type the clients; nothing of them is imported at run time
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient

# Error codes AWS services use for "slow down" or "try again"; with any 5xx answer they mean the
# request may succeed when repeated (botocore's standard retry mode retries them too).
TRANSIENT_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "Throttled",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "InternalServiceError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


class MissingConfigurationError(RuntimeError):
    """A variable the template should have set is absent: fail at start-up, loudly."""


def require_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise MissingConfigurationError(
            f"environment variable {name} is not set; it comes from template.yaml (or the local stack)"
        )
    return value


@overload
def aws_client(service: Literal["dynamodb"]) -> "DynamoDBClient": ...
@overload
def aws_client(service: Literal["sns"]) -> "SNSClient": ...
@overload
def aws_client(service: Literal["stepfunctions"]) -> "SFNClient": ...
@overload
def aws_client(service: Literal["secretsmanager"]) -> "SecretsManagerClient": ...
def aws_client(service: Literal["dynamodb", "sns", "stepfunctions", "secretsmanager"]) -> Any:
    """A boto3 client with short, standard retries: callers answer 503 rather than hang.

    boto3 honours AWS_ENDPOINT_URL, which the local stack and the tests set.
    """
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5),
    )


def is_transient(exc: BaseException) -> bool:
    """An AWS answer that says "not now" (throttled, or failed on AWS's side), not "never"."""
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return code in TRANSIENT_ERROR_CODES or status >= 500
