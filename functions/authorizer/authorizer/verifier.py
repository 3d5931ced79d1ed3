"""Pure token logic: read the Authorization header, verify the JWT, return the user id.

No AWS, no logging, no environment: everything comes in as arguments, and every
refusal is a :class:`TokenRejected` carrying a short reason that is safe to log
(it never contains the token).
"""

from __future__ import annotations

import re
from typing import Any

import jwt
from jwt.exceptions import InvalidSubjectError

MAX_TOKEN_BYTES = 8 * 1024
MAX_SUB_LENGTH = 128
MAX_KID_LENGTH = 256
JWKS_LIFESPAN_SECONDS = 300.0
JWKS_REFRESH_COOLDOWN_SECONDS = 30.0
JWKS_TIMEOUT_SECONDS = 3.0

# header.payload.signature, base64url without padding, signature not empty (so no `alg: none`).
_JWS_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class TokenRejected(Exception):  # noqa: N818 - a refusal, not a failure of the authorizer
    """The presented token is not acceptable; ``reason`` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeySourceError(RuntimeError):
    """The JWKS endpoint could not be read: the authorizer, not the token, is at fault."""


def extract_token(authorization: object) -> str:
    """Return the token from ``Bearer <token>`` (scheme case-insensitive) or a bare token."""
    if not isinstance(authorization, str):
        raise TokenRejected("missing token")
    # Length in characters first, so a huge header is refused without even being encoded.
    too_large = len(authorization) > MAX_TOKEN_BYTES
    if too_large or len(authorization.encode("utf-8", "replace")) > MAX_TOKEN_BYTES:
        raise TokenRejected("token too large")
    parts = authorization.split()
    if not parts:
        raise TokenRejected("missing token")
    if len(parts) == 2 and parts[0].lower() == "bearer":
        return parts[1]
    if len(parts) == 1 and parts[0].lower() != "bearer":
        return parts[0]
    if len(parts) == 1:
        raise TokenRejected("missing token")
    raise TokenRejected("malformed authorization header")


def check_shape(token: str) -> None:
    """Refuse, without decoding anything, what cannot be a signed compact JWS."""
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenRejected("token too large")
    if not _JWS_COMPACT.fullmatch(token):
        raise TokenRejected("malformed token")


def verify_hs256(token: str, key: bytes, *, issuer: str | None, audience: str | None) -> str:
    """Verify an HS256 token against ``key`` and return its ``sub``."""
    check_shape(token)
    return _decode(token, key, "HS256", issuer=issuer, audience=audience)


def make_jwks_client(url: str) -> jwt.PyJWKClient:
    # The parsed key set is cached for JWKS_LIFESPAN_SECONDS; an unknown kid forces at
    # most one refetch per cooldown. Per-kid caching (cache_keys) is left off on
    # purpose: PyJWT keeps those keys forever, so a key withdrawn from the JWKS would
    # stay trusted for the life of the execution environment.
    return jwt.PyJWKClient(
        url,
        cache_keys=False,
        cache_jwk_set=True,
        lifespan=JWKS_LIFESPAN_SECONDS,
        timeout=JWKS_TIMEOUT_SECONDS,
        cooldown_duration=JWKS_REFRESH_COOLDOWN_SECONDS,
    )


def verify_rs256(token: str, client: jwt.PyJWKClient, *, issuer: str | None, audience: str | None) -> str:
    """Verify an RS256 token against the key of its ``kid`` in the JWKS and return its ``sub``."""
    check_shape(token)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise TokenRejected("malformed token") from None
    # Checked before the key lookup so that foreign tokens never trigger a JWKS refetch.
    if header.get("alg") != "RS256":
        raise TokenRejected("algorithm not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise TokenRejected("missing or invalid kid")
    try:
        signing_key = client.get_signing_key(kid)
    except jwt.PyJWKClientConnectionError as exc:
        raise KeySourceError(f"JWKS endpoint unavailable: {exc}") from exc
    except jwt.PyJWKClientError:
        raise TokenRejected("unknown signing key") from None
    except jwt.PyJWKError as exc:  # the endpoint answered something that is not a usable JWKS
        raise KeySourceError(f"JWKS endpoint answered an invalid key set: {exc}") from exc
    if signing_key.key_type != "RSA" or signing_key.algorithm_name != "RS256":
        raise TokenRejected("signing key is not an RS256 key")
    return _decode(token, signing_key.key, "RS256", issuer=issuer, audience=audience)


def _decode(token: str, key: Any, algorithm: str, *, issuer: str | None, audience: str | None) -> str:
    required = ["exp", "sub"]
    if issuer is not None:
        required.append("iss")
    if audience is not None:
        required.append("aud")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            options={"require": required, "verify_aud": audience is not None},
            issuer=issuer,
            audience=audience,
            leeway=0,
        )
    except jwt.ExpiredSignatureError:
        raise TokenRejected("expired") from None
    except jwt.ImmatureSignatureError:
        raise TokenRejected("not yet valid (nbf or iat in the future)") from None
    except jwt.InvalidSignatureError:
        raise TokenRejected("bad signature") from None
    except jwt.InvalidAlgorithmError:
        raise TokenRejected("algorithm not allowed") from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenRejected(f"missing claim {exc.claim}") from None
    except jwt.InvalidIssuerError:
        raise TokenRejected("wrong issuer") from None
    except jwt.InvalidAudienceError:
        raise TokenRejected("wrong audience") from None
    except InvalidSubjectError:
        raise TokenRejected("invalid sub") from None
    except jwt.DecodeError:
        raise TokenRejected("malformed token") from None
    except jwt.InvalidTokenError as exc:
        raise TokenRejected(f"invalid token ({type(exc).__name__})") from None
    return _check_sub(claims.get("sub"))


def _check_sub(sub: object) -> str:
    if not isinstance(sub, str) or not sub:
        raise TokenRejected("invalid sub")
    if len(sub) > MAX_SUB_LENGTH:
        raise TokenRejected("sub too long")
    if _CONTROL_CHARS.search(sub) or sub.strip() != sub:
        raise TokenRejected("invalid characters in sub")
    return sub
