"""Authorizer configuration, read from the environment variables the template sets.

Anything missing or invalid raises :class:`ConfigError` naming the variable, so a
broken deployment fails at start-up (module import) instead of refusing every user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

AuthMode = Literal["hs256", "jwks"]

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class ConfigError(RuntimeError):
    """The authorizer's environment is missing a variable or holds an invalid value."""


@dataclass(frozen=True, slots=True)
class Config:
    mode: AuthMode
    secret_arn: str | None  # hs256 only
    jwks_url: str | None  # jwks only
    issuer: str | None  # checked when set (always set in jwks mode)
    audience: str | None  # checked when set; in jwks mode this or client_ids is required
    client_ids: frozenset[str]  # jwks only: Cognito access tokens of these app clients


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def load_config(env: Mapping[str, str]) -> Config:
    mode = _get(env, "AUTH_MODE").lower()
    if mode not in ("hs256", "jwks"):
        shown = "missing" if not mode else f"{mode!r}"
        raise ConfigError(f"AUTH_MODE must be 'hs256' or 'jwks' (got {shown})")

    issuer = _get(env, "JWT_ISSUER") or None
    audience = _get(env, "JWT_AUDIENCE") or None
    client_ids = frozenset(filter(None, (c.strip() for c in _get(env, "JWT_ALLOWED_CLIENT_IDS").split(","))))

    secret_arn: str | None = None
    jwks_url: str | None = None
    if mode == "hs256":
        secret_arn = _get(env, "JWT_SECRET_ARN")
        if not secret_arn:
            raise ConfigError("JWT_SECRET_ARN must name the Secrets Manager secret holding the HS256 key")
    else:
        jwks_url = _get(env, "JWKS_URL")
        if not jwks_url:
            raise ConfigError("JWKS_URL must be set when AUTH_MODE is 'jwks'")
        parts = urlsplit(jwks_url)
        secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS)
        if not secure or not parts.hostname:
            raise ConfigError("JWKS_URL must be an https:// URL (plain http only on the loopback interface)")
        if issuer is None:
            raise ConfigError("JWT_ISSUER must be set when AUTH_MODE is 'jwks'")
        # An issuer mints tokens for many APIs: without an audience, any of them would be accepted here.
        if audience is None and not client_ids:
            raise ConfigError(
                "JWT_AUDIENCE (or JWT_ALLOWED_CLIENT_IDS, for Cognito access tokens) must be set "
                "when AUTH_MODE is 'jwks'"
            )
        if audience is not None and client_ids:
            raise ConfigError("set JWT_AUDIENCE or JWT_ALLOWED_CLIENT_IDS, not both")

    return Config(
        mode="hs256" if mode == "hs256" else "jwks",
        secret_arn=secret_arn,
        jwks_url=jwks_url,
        issuer=issuer,
        audience=audience,
        client_ids=client_ids,
    )
