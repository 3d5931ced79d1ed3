"""Bearer tokens for the local stack (HS256, the secret the local JwtSecret holds)."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import jwt

DEV_JWT_SECRET = "local-development-secret-not-for-production-000000"  # noqa: S105 - documented dev default

# The original system's fixed header, accepted by the local stack only: see translate_legacy_authorization.
LEGACY_DEMO_TOKEN = "thisisajwttoken"  # noqa: S105
LEGACY_DEMO_USER = "demo"
DEMO_TOKEN_TTL = 3600
_DEMO_TOKEN_RENEW_BEFORE = 300  # seconds before expiry: a request never carries a token about to expire


def jwt_secret(env: dict[str, str] | None = None) -> str:
    """The local stack's signing secret: ``JWT_SECRET`` from the environment, else the dev default."""
    source = os.environ if env is None else env
    return source.get("JWT_SECRET") or DEV_JWT_SECRET


def mint_token(user: str, secret: str | None = None, ttl: int = 3600, **extra_claims: Any) -> str:
    """An HS256 JWT with ``sub``, ``iat`` and ``exp`` (plus ``extra_claims``, which may override them)."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user, "iat": now, "exp": now + ttl}
    claims.update(extra_claims)
    return jwt.encode(claims, secret or jwt_secret(), algorithm="HS256")


_demo_tokens: dict[str, tuple[float, str]] = {}  # secret -> (renew after, token)
_demo_lock = threading.Lock()


def translate_legacy_authorization(authorization: str, secret: str | None = None) -> str:
    """The local gateway's answer to the original system's fixed header (``thisisajwttoken``, bare or
    ``Bearer``): ``Bearer <a real token for user demo>``, signed with the local secret. Any other header
    is returned unchanged.

    The authorizer never sees the fixed token, so no deployable code knows it and a deployed stack cannot
    be made to accept it. The minted token is reused until shortly before it expires, so the gateway's
    authorizer cache keeps answering for it.
    """
    parts = authorization.split()
    legacy = parts == [LEGACY_DEMO_TOKEN] or (
        len(parts) == 2 and parts[0].lower() == "bearer" and parts[1] == LEGACY_DEMO_TOKEN
    )
    if not legacy:
        return authorization
    key = secret or jwt_secret()
    now = time.time()
    with _demo_lock:
        renew_after, token = _demo_tokens.get(key, (0.0, ""))
        if renew_after <= now:
            token = mint_token(LEGACY_DEMO_USER, key, ttl=DEMO_TOKEN_TTL)
            _demo_tokens[key] = (now + DEMO_TOKEN_TTL - _DEMO_TOKEN_RENEW_BEFORE, token)
    return f"Bearer {token}"
