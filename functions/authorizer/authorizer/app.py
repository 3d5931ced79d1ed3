"""API Gateway TOKEN authorizer.

Answers an Allow policy for the whole API with ``context.userId`` set to the
token's ``sub`` and ``context.expiresAt`` to its ``exp`` (API Gateway caches the
answer per token, past that expiry: the functions refuse an expired caller), or
raises ``Exception("Unauthorized")``, which API Gateway turns into a 401.
Configuration is read and checked at import (see ``config.py``). The HS256 key is
read from Secrets Manager through Powertools' parameters utility and cached for
``SECRET_MAX_AGE_SECONDS``; a token whose signature fails may refetch it early, once
per ``REFETCH_COOLDOWN_SECONDS``. So after the secret is rotated
(``put-secret-value``), new-key tokens are accepted and old-key tokens refused within 60 seconds,
and a flood of forged tokens costs at most one read per cooldown.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from authorizer import verifier
from authorizer.config import Config, ConfigError, load_config
from authorizer.policy import allow_policy

if TYPE_CHECKING:  # nothing of the stubs or of the parameters utility is imported here at run time
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

SECRET_MAX_AGE_SECONDS = 30
REFETCH_COOLDOWN_SECONDS = 10

logger = Logger()  # service name from POWERTOOLS_SERVICE_NAME

CONFIG: Config = load_config(os.environ)


class SigningKey:
    """The HS256 key held in Secrets Manager: cached with a short TTL, refetched early at most once per cooldown."""

    def __init__(self, provider: SecretsProvider, secret_id: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.provider = provider
        self.secret_id = secret_id
        self.clock = clock
        self._last_refetch: float | None = None

    def current(self) -> bytes:
        return self._read(force=False)

    def refetched(self) -> bytes | None:
        """The key read again now, or None when the last early read is less than a cooldown ago."""
        now = self.clock()
        if self._last_refetch is not None and now - self._last_refetch < REFETCH_COOLDOWN_SECONDS:
            return None
        self._last_refetch = now
        return self._read(force=True)

    def _read(self, *, force: bool) -> bytes:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            secret = self.provider.get(self.secret_id, max_age=SECRET_MAX_AGE_SECONDS, force_fetch=force)
        except GetParameterError as exc:  # not the caller's fault: a 500, never a 401 (and never cached)
            raise verifier.KeySourceError(f"the HS256 key could not be read: {exc}") from exc
        if not isinstance(secret, str) or not secret:
            raise ConfigError("the secret named by JWT_SECRET_ARN has no SecretString to use as HS256 key")
        return secret.encode("utf-8")


signing_key: SigningKey | None = None
_jwks_client: Any = None
if CONFIG.mode == "hs256":
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from platform_core.config import aws_client  # the platform's timeouts and retries; honours AWS_ENDPOINT_URL

    signing_key = SigningKey(SecretsProvider(boto3_client=aws_client("secretsmanager")), CONFIG.secret_arn or "")
else:
    _jwks_client = verifier.make_jwks_client(CONFIG.jwks_url or "")


def _verify_hs256(token: str, key: SigningKey) -> verifier.Caller:
    held = key.current()
    try:
        return verifier.verify_hs256(token, held, issuer=CONFIG.issuer, audience=CONFIG.audience)
    except verifier.BadSignature:
        fresh = key.refetched()  # the key may have been rotated since it was cached
        if fresh is None or fresh == held:
            raise
        return verifier.verify_hs256(token, fresh, issuer=CONFIG.issuer, audience=CONFIG.audience)


def _caller(authorization: object) -> verifier.Caller:
    token = verifier.extract_token(authorization)
    verifier.check_shape(token)  # garbage is refused before any secret or key is fetched
    if signing_key is not None:
        return _verify_hs256(token, signing_key)
    return verifier.verify_rs256(
        token, _jwks_client, issuer=CONFIG.issuer, audience=CONFIG.audience, client_ids=CONFIG.client_ids
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Set (or cleared: None is left out of the log line) on every invocation.
    logger.append_keys(function_request_id=getattr(context, "aws_request_id", None))
    # The token is never logged: only the reason of a refusal, or the user id.
    try:
        caller = _caller(event.get("authorizationToken"))
    except verifier.UnusableKeySet as exc:
        logger.error("Token refused", extra={"reason": exc.reason})  # refused, and an operator must look
        raise Exception("Unauthorized") from None
    except verifier.TokenRejected as exc:
        logger.info("Token refused", extra={"reason": exc.reason})
        raise Exception("Unauthorized") from None  # exactly this message: API Gateway answers 401
    except verifier.KeySourceError:
        # Not the caller's fault: fail (API Gateway answers 500) rather than refuse everyone with 401.
        logger.exception("Signing keys unavailable")
        raise
    try:
        answer = allow_policy(caller.user_id, caller.expires_at, event.get("methodArn", ""))
    except ValueError as exc:
        logger.error("Token refused", extra={"reason": str(exc)})
        raise Exception("Unauthorized") from None
    logger.info("Token accepted", extra={"user_id": caller.user_id})
    return answer
