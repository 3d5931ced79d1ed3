"""API Gateway TOKEN authorizer.

Answers an Allow policy for the whole API with ``context.userId`` set to the
token's ``sub``, or raises ``Exception("Unauthorized")``, which API Gateway turns
into a 401. Configuration is read and checked at import (see ``config.py``); the
HS256 key is read from Secrets Manager once per execution environment.
"""

from __future__ import annotations

import hmac
import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from authorizer import verifier
from authorizer.config import Config, ConfigError, load_config
from authorizer.policy import allow_policy

if TYPE_CHECKING:  # the pinned stubs type the client; nothing of them is imported at run time
    from mypy_boto3_secretsmanager import SecretsManagerClient

LEGACY_DEMO_USER = "demo"

logger = Logger()  # service name from POWERTOOLS_SERVICE_NAME

CONFIG: Config = load_config(os.environ)

_secrets_client: SecretsManagerClient | None = None
_jwks_client: Any = None
if CONFIG.mode == "hs256":
    import boto3  # only hs256 needs AWS; honours AWS_ENDPOINT_URL (local stack, tests)

    _secrets_client = boto3.client("secretsmanager")
else:
    _jwks_client = verifier.make_jwks_client(CONFIG.jwks_url or "")

if CONFIG.legacy_token is not None:
    logger.warning("LEGACY_DEMO_TOKEN is set: the fixed legacy token is accepted as user 'demo'")

_hs256_key: bytes | None = None


def _signing_secret() -> bytes:
    """The HS256 key, fetched on first use and kept for the life of the execution environment."""
    global _hs256_key  # noqa: PLW0603 - the per-environment cache
    if _hs256_key is None:
        if _secrets_client is None or not CONFIG.secret_arn:  # load_config makes hs256 mode name the secret
            raise ConfigError("HS256 mode without JWT_SECRET_ARN")
        response = _secrets_client.get_secret_value(SecretId=CONFIG.secret_arn)
        secret = response.get("SecretString")
        if not isinstance(secret, str) or not secret:
            raise ConfigError("the secret named by JWT_SECRET_ARN has no SecretString to use as HS256 key")
        _hs256_key = secret.encode("utf-8")
    return _hs256_key


def _user_id(authorization: object) -> str:
    token = verifier.extract_token(authorization)
    legacy = CONFIG.legacy_token
    if legacy is not None and hmac.compare_digest(token.encode("utf-8"), legacy.encode("utf-8")):
        return LEGACY_DEMO_USER
    verifier.check_shape(token)  # garbage is refused before any secret or key is fetched
    if CONFIG.mode == "hs256":
        return verifier.verify_hs256(token, _signing_secret(), issuer=CONFIG.issuer, audience=CONFIG.audience)
    return verifier.verify_rs256(token, _jwks_client, issuer=CONFIG.issuer, audience=CONFIG.audience)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Set (or cleared: None is left out of the log line) on every invocation.
    logger.append_keys(function_request_id=getattr(context, "aws_request_id", None))
    # The token is never logged: only the reason of a refusal, or the user id.
    try:
        user_id = _user_id(event.get("authorizationToken"))
    except verifier.TokenRejected as exc:
        logger.info("Token refused", extra={"reason": exc.reason})
        raise Exception("Unauthorized") from None  # exactly this message: API Gateway answers 401
    except verifier.KeySourceError:
        # Not the caller's fault: fail (API Gateway answers 500) rather than refuse everyone with 401.
        logger.exception("Signing keys unavailable")
        raise
    try:
        answer = allow_policy(user_id, event.get("methodArn", ""))
    except ValueError as exc:
        logger.error("Token refused", extra={"reason": str(exc)})
        raise Exception("Unauthorized") from None
    logger.info("Token accepted", extra={"user_id": user_id})
    return answer
