"""The authorizer's Allow answer, built with Powertools' APIGatewayAuthorizerResponse."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import APIGatewayAuthorizerResponse


def allow_policy(principal_id: str, expires_at: int, method_arn: str) -> dict[str, Any]:
    """Allow every route of the API the called method belongs to, with ``context.userId`` and
    ``context.expiresAt`` (the token's ``exp``) set.

    API Gateway caches the answer per token, so a policy naming only the called method would deny
    the same user's other routes from the cache; and the cache outlives the token: the functions
    compare ``expiresAt`` with the time of each request (platform_core.api).
    """
    parts = method_arn.split(":", 5) if isinstance(method_arn, str) else []
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "execute-api" or not all(parts[1:5]):
        raise ValueError("methodArn is not an execute-api ARN")
    path = parts[5].split("/")
    if len(path) < 2 or not path[0] or not path[1]:
        raise ValueError("methodArn has no API id and stage")
    answer = APIGatewayAuthorizerResponse(
        principal_id=principal_id,
        partition=parts[1],
        region=parts[3],
        aws_account_id=parts[4],
        api_id=path[0],
        stage=path[1],
        context={"userId": principal_id, "expiresAt": expires_at},
    )
    answer.allow_all_routes()
    return answer.asdict()
