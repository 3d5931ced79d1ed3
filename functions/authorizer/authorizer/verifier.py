"""Pure token logic: read the Authorization header, verify the JWT, return who is calling until when.

No AWS, no logging, no environment: everything comes in as arguments, and every
refusal is a :class:`TokenRejected` carrying a short reason that is safe to log
(it never contains the token).
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.exceptions import InvalidSubjectError

MAX_TOKEN_BYTES = 8 * 1024
MAX_SUB_LENGTH = 128
MAX_KID_LENGTH = 256
JWKS_LIFESPAN_SECONDS = 300.0
JWKS_REFRESH_COOLDOWN_SECONDS = 30.0
JWKS_TIMEOUT_SECONDS = 3.0
# Clocks differ: iat and nbf may be this far in the future. exp gets no leeway (an expired token is expired).
CLOCK_SKEW_SECONDS = 60
# Unicode categories a sub may not contain: controls, format characters (bidirectional overrides and
# isolates, zero-width characters, soft hyphen, BOM), surrogates, private use, unassigned, and line or
# paragraph separators. Space separators other than the plain space are refused separately.
_REFUSED_SUB_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

# header.payload.signature, base64url without padding, signature not empty (so no `alg: none`).
_JWS_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")

clock: Callable[[], float] = time.time  # seconds since the epoch, as PyJWT's own clock


class TokenRejected(Exception):  # noqa: N818 - a refusal, not a failure of the authorizer
    """The presented token is not acceptable; ``reason`` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadSignature(TokenRejected):
    """The signature does not match the key: the token is forged, or signed with a key we do not hold yet."""

    def __init__(self) -> None:
        super().__init__("bad signature")


class UnusableKeySet(TokenRejected):
    """The JWKS endpoint answered a key set with no usable key: nothing can be verified (an operator's problem,
    logged as an error, but the token is still refused: no key, no access)."""

    def __init__(self) -> None:
        super().__init__("the JWKS has no usable signing key")


class KeySourceError(RuntimeError):
    """The JWKS endpoint could not be read: the authorizer, not the token, is at fault."""


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified token's user (``sub``) and its expiry (``exp``, whole seconds since the epoch, rounded down)."""

    user_id: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class _Expected:
    """What a token must say besides its signature: its issuer and audience (each checked when set) and, for
    Cognito access tokens (which carry no ``aud``), the app clients it may come from."""

    issuer: str | None
    audience: str | None
    client_ids: Collection[str] = ()


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


def verify_hs256(token: str, key: bytes, *, issuer: str | None, audience: str | None) -> Caller:
    """Verify an HS256 token against ``key`` and return its caller."""
    check_shape(token)
    return _decode(token, key, "HS256", _Expected(issuer, audience))


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


def verify_rs256(
    token: str,
    client: jwt.PyJWKClient,
    *,
    issuer: str | None,
    audience: str | None,
    client_ids: Collection[str] = (),
) -> Caller:
    """Verify an RS256 token against the key of its ``kid`` in the JWKS and return its caller.

    With ``client_ids`` (Cognito access tokens carry no ``aud``), the token must be an access token
    (``token_use``) of one of those app clients (``client_id``).
    """
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
    except jwt.PyJWKSetError:  # an empty key set, no key this PyJWT can use, or not a key set at all
        raise UnusableKeySet from None
    except jwt.PyJWKClientError:
        raise TokenRejected("unknown signing key") from None
    except jwt.PyJWKError as exc:  # the endpoint answered something that is not a usable JWKS
        raise KeySourceError(f"JWKS endpoint answered an invalid key set: {exc}") from exc
    if signing_key.key_type != "RSA" or signing_key.algorithm_name != "RS256":
        raise TokenRejected("signing key is not an RS256 key")
    return _decode(token, signing_key.key, "RS256", _Expected(issuer, audience, client_ids))


def _decode(token: str, key: Any, algorithm: str, expected: _Expected) -> Caller:
    required = ["exp", "sub"]
    if expected.issuer is not None:
        required.append("iss")
    if expected.audience is not None:
        required.append("aud")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            options={"require": required, "verify_aud": expected.audience is not None},
            issuer=expected.issuer,
            audience=expected.audience,
            leeway=CLOCK_SKEW_SECONDS,  # for iat and nbf; exp is checked again below, strictly
        )
    except jwt.InvalidSignatureError:
        raise BadSignature from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenRejected(f"missing claim {exc.claim}") from None
    except jwt.InvalidTokenError as exc:
        raise TokenRejected(_reason(exc)) from None
    except (TypeError, ValueError, OverflowError):  # PyJWT's int() of a list or huge iat/nbf/exp
        raise TokenRejected("claim of the wrong type") from None
    # PyJWT accepts anything int() takes (a string "exp" passes): time claims must be JSON numbers.
    if any(not _is_number(claims[name]) for name in ("exp", "iat", "nbf") if name in claims):
        raise TokenRejected("claim of the wrong type")
    if claims["exp"] <= clock():
        raise TokenRejected("expired")
    if expected.client_ids:
        _check_access_token_client(claims, expected.client_ids)
    return Caller(_check_sub(claims.get("sub")), math.floor(claims["exp"]))


# PyJWT's refusals, most specific first (a bad signature and a missing claim are told apart above).
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not yet valid (nbf or iat in the future)"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (InvalidSubjectError, "invalid sub"),
    (jwt.DecodeError, "malformed token"),
)


def _reason(exc: Exception) -> str:
    return next((reason for kind, reason in _REASONS if isinstance(exc, kind)), f"invalid token ({type(exc).__name__})")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_access_token_client(claims: dict[str, Any], client_ids: Collection[str]) -> None:
    if claims.get("token_use") != "access":
        raise TokenRejected("not an access token")
    client_id = claims.get("client_id")
    if not isinstance(client_id, str) or client_id not in client_ids:
        raise TokenRejected("client not allowed")


def _check_sub(sub: object) -> str:
    """An opaque id of printable characters: letters, marks, numbers, punctuation, symbols and inner plain
    spaces. Nothing invisible or direction-changing that would make two ids look alike in logs or tools."""
    if not isinstance(sub, str) or not sub:
        raise TokenRejected("invalid sub")
    if len(sub) > MAX_SUB_LENGTH:
        raise TokenRejected("sub too long")
    if sub.strip() != sub or any(_refused_in_sub(ch) for ch in sub):
        raise TokenRejected("invalid characters in sub")
    return sub


def _refused_in_sub(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category in _REFUSED_SUB_CATEGORIES or (category == "Zs" and ch != " ")
