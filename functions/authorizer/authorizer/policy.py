"""The authorizer's Allow answer."""

from __future__ import annotations

from typing import Any


def api_wide_resource(method_arn: str) -> str:
    """``arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/*/*`` from the called method's ARN.

    API Gateway caches the answer per token, so a policy naming only the called
    method would deny the same user's other routes from the cache.
    """
    parts = method_arn.split(":", 5) if isinstance(method_arn, str) else []
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "execute-api" or not all(parts[1:5]):
        raise ValueError("methodArn is not an execute-api ARN")
    path = parts[5].split("/")
    if len(path) < 2 or not path[0] or not path[1]:
        raise ValueError("methodArn has no API id and stage")
    partition, _, region, account = parts[1:5]
    return f"arn:{partition}:execute-api:{region}:{account}:{path[0]}/{path[1]}/*/*"


def allow_policy(principal_id: str, method_arn: str) -> dict[str, Any]:
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": api_wide_resource(method_arn),
                }
            ],
        },
        "context": {"userId": principal_id},
    }
