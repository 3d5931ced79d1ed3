"""Bearer tokens for the local stack (HS256, the secret the local JwtSecret holds)."""

from __future__ import annotations

import os
import time
from typing import Any

import jwt

DEV_JWT_SECRET = "local-development-secret-not-for-production-000000"  # noqa: S105 - documented dev default


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
