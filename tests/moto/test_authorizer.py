"""Unit tests of the TOKEN authorizer (functions/authorizer).

Tokens are minted here with PyJWT; Secrets Manager is moto's; the JWKS is served
by a tiny http.server on 127.0.0.1. The authorizer reads its configuration at
import, so every test imports ``authorizer.app`` afresh after setting the env.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import io
import json
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import jwt
import pytest
from aws_lambda_powertools.utilities.parameters import base as parameters_base
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from moto import mock_aws

from authorizer import verifier

ROOT = Path(__file__).resolve().parents[2]
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/api/GET/orders"
API_WIDE = "arn:aws:execute-api:us-east-1:123456789012:abc123/api/*/*"
SECRET = "s3cr3t-" + "k" * 57  # 64 characters, like the template's generated secret
ROTATED = "r0t4t3d-" + "n" * 56
LEGACY = "thisisajwttoken"
ISSUER = "https://issuer.example.com/"
AUDIENCE = "order-platform"
CONTEXT = SimpleNamespace(aws_request_id="11111111-2222-3333-4444-555555555555")

RSA_KEYS: list[rsa.RSAPrivateKey] = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]

AUTH_VARS = (
    "AUTH_MODE",
    "JWT_SECRET_ARN",
    "JWKS_URL",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_ALLOWED_CLIENT_IDS",
    "LEGACY_DEMO_TOKEN",
)


# ----------------------------------------------------------------------------- helpers


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    payload: dict[str, Any] = {"sub": "alice", "iat": now, "exp": now + 3600}
    for name, value in overrides.items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    return payload


def hs256(*, secret: str = SECRET, algorithm: str = "HS256", **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), secret, algorithm=algorithm)


def unsigned(*, alg: str = "none", signature: str = "", **overrides: Any) -> str:
    """A token built by hand (PyJWT will not sign with some of these headers)."""
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims(**overrides)).encode())
    return f"{header}.{payload}.{signature}"


def token_event(authorization: Any, method_arn: str = METHOD_ARN) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "TOKEN", "methodArn": method_arn}
    if authorization is not None:
        event["authorizationToken"] = authorization
    return event


def assert_refused(app: ModuleType, authorization: Any) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$") as info:
        app.handler(token_event(authorization), CONTEXT)
    assert type(info.value) is Exception  # exactly what API Gateway maps to 401


def assert_allowed(app: ModuleType, authorization: Any, user: str = "alice") -> dict[str, Any]:
    answer: dict[str, Any] = app.handler(token_event(authorization), CONTEXT)
    # The token's exp rides along: API Gateway's cache outlives it, so the functions check it themselves.
    exp = jwt.decode(authorization.split()[-1], options={"verify_signature": False})["exp"]
    assert answer == {
        "principalId": user,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [API_WIDE]}],
        },
        "context": {"userId": user, "expiresAt": int(exp)},
    }
    return answer


def import_app(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    for name in AUTH_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in list(sys.modules):  # a fresh execution environment (other tests do the same)
        if name == "authorizer" or name.startswith("authorizer."):
            del sys.modules[name]
    return importlib.import_module("authorizer.app")


def assert_config_error(load: Callable[[], Any], variable: str) -> None:
    # By name: the failed import leaves a freshly imported authorizer.config behind.
    with pytest.raises(RuntimeError, match=variable) as info:
        load()
    assert type(info.value).__name__ == "ConfigError"


def capture_logs(app: ModuleType) -> io.StringIO:
    stream = io.StringIO()
    handler = app.logger.registered_handler
    assert hasattr(handler, "setStream")
    handler.setStream(stream)
    return stream


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_PROFILE", "ENVIRONMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "authorizer")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    yield
    sys.modules.pop("authorizer.app", None)


@pytest.fixture
def secret_arn() -> Iterator[str]:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        yield client.create_secret(Name="order-platform-jwt", SecretString=SECRET)["ARN"]


@pytest.fixture
def load_hs256(monkeypatch: pytest.MonkeyPatch, secret_arn: str) -> Callable[..., ModuleType]:
    def load(**env: str) -> ModuleType:
        return import_app(monkeypatch, AUTH_MODE="hs256", JWT_SECRET_ARN=secret_arn, **env)

    return load


@pytest.fixture
def app(load_hs256: Callable[..., ModuleType]) -> ModuleType:
    return load_hs256()


def count_secret_reads(app: ModuleType) -> list[str]:
    calls: list[str] = []
    app.signing_key.provider.client.meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: calls.append("GetSecretValue")
    )
    return calls


# ----------------------------------------------------------------------------- HS256: accepted


def test_good_token_allows_every_route_of_the_api(app: ModuleType) -> None:
    answer = assert_allowed(app, f"Bearer {hs256()}")
    other = app.handler(
        token_event(f"Bearer {hs256()}", "arn:aws:execute-api:us-east-1:123456789012:abc123/api/POST/orders/01J/pay"),
        CONTEXT,
    )
    assert other["policyDocument"] == answer["policyDocument"]


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "BeArEr"])
def test_bearer_scheme_is_case_insensitive(app: ModuleType, scheme: str) -> None:
    assert_allowed(app, f"{scheme} {hs256()}")


def test_bare_token_without_bearer(app: ModuleType) -> None:
    assert_allowed(app, hs256())


def test_user_id_is_the_sub_claim(app: ModuleType) -> None:
    assert_allowed(app, f"Bearer {hs256(sub='user-42@example.com')}", user="user-42@example.com")


def test_audience_is_not_checked_when_not_configured(app: ModuleType) -> None:
    assert_allowed(app, f"Bearer {hs256(aud='some-client')}")


def test_sample_event_with_a_real_token(app: ModuleType) -> None:
    event = json.loads((ROOT / "events/authorizer-token.json").read_text())
    assert event["type"] == "TOKEN"
    assert event["methodArn"] == METHOD_ARN
    assert_refused(app, event["authorizationToken"])  # the placeholder is not a token
    event["authorizationToken"] = f"Bearer {hs256()}"
    assert app.handler(event, CONTEXT)["context"]["userId"] == "alice"


def test_the_tokens_expiry_is_in_the_context_in_whole_seconds_rounded_down(app: ModuleType) -> None:
    exp = time.time() + 600.75
    context = app.handler(token_event(f"Bearer {hs256(exp=exp)}"), CONTEXT)["context"]
    assert context == {"userId": "alice", "expiresAt": int(exp)}


# ----------------------------------------------------------------------------- HS256: refused

BAD_TOKENS: dict[str, Callable[[], Any]] = {
    "missing": lambda: None,
    "not a string": lambda: 42,
    "empty": lambda: "",
    "blank": lambda: "   ",
    "bearer only": lambda: "Bearer",
    "bearer and spaces": lambda: "Bearer    ",
    "other scheme": lambda: f"Basic {hs256()}",
    "three words": lambda: f"Bearer {hs256()} extra",
    "malformed": lambda: "Bearer not-a-jwt",
    "two segments": lambda: "Bearer " + hs256().rsplit(".", 1)[0],
    "four segments": lambda: f"Bearer {hs256()}.abc",
    "random urlsafe": lambda: f"Bearer {secrets.token_urlsafe(96)}",
    "random segments": lambda: "Bearer " + ".".join(secrets.token_urlsafe(24) for _ in range(3)),
    "random bytes": lambda: os.urandom(200).decode("latin-1"),
    "json header garbage": lambda: "Bearer " + b64url(b"{not json") + ".e30." + b64url(b"sig"),
    "truncated signature": lambda: "Bearer " + hs256()[:-6],
    "truncated in payload": lambda: "Bearer " + hs256()[:40],
    "expired by one second": lambda: f"Bearer {hs256(exp=int(time.time()) - 1)}",
    "future nbf": lambda: f"Bearer {hs256(nbf=int(time.time()) + 3600)}",
    "future iat": lambda: f"Bearer {hs256(iat=int(time.time()) + 3600)}",
    "wrong signature": lambda: f"Bearer {hs256(secret='another-secret-' + 'x' * 49)}",
    "tampered payload": lambda: (
        "Bearer "
        + ".".join([hs256().split(".")[0], b64url(json.dumps(claims(sub="mallory")).encode()), hs256().split(".")[2]])
    ),
    "HS512 same secret": lambda: f"Bearer {hs256(algorithm='HS512')}",
    "HS384 same secret": lambda: f"Bearer {hs256(algorithm='HS384')}",
    "RS256 token": lambda: f"Bearer {jwt.encode(claims(), RSA_KEYS[0], algorithm='RS256')}",
    "alg none, no signature": lambda: f"Bearer {unsigned()}",
    "alg none, with signature": lambda: f"Bearer {unsigned(signature=b64url(b'whatever'))}",
    "alg None capitalised": lambda: f"Bearer {unsigned(alg='None', signature=b64url(b'x'))}",
    "missing sub": lambda: f"Bearer {hs256(sub=None)}",
    "missing exp": lambda: f"Bearer {hs256(exp=None)}",
    "empty sub": lambda: f"Bearer {hs256(sub='')}",
    "blank sub": lambda: f"Bearer {hs256(sub='  ')}",
    "numeric sub": lambda: f"Bearer {hs256(sub=12345)}",
    "list sub": lambda: f"Bearer {hs256(sub=['alice'])}",
    "sub too long": lambda: f"Bearer {hs256(sub='a' * 129)}",
    "sub with newline": lambda: "Bearer " + hs256(sub="alice\nadmin"),
    "sub with NUL": lambda: "Bearer " + hs256(sub="alice\x00"),
    "exp not a number": lambda: f"Bearer {hs256(exp='tomorrow')}",
    "huge garbage": lambda: "Bearer " + "a" * 9000,
    "huge but validly signed": lambda: f"Bearer {hs256(pad='x' * 9000)}",
    "legacy token when not enabled": lambda: LEGACY,
}


@pytest.mark.parametrize("make", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_bad_token_is_refused(app: ModuleType, make: Callable[[], Any]) -> None:
    assert_refused(app, make())


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch, app: ModuleType) -> int:
    """Freeze PyJWT's clock and the verifier's on one whole second, so that boundaries are exact."""
    now = 1_900_000_000

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> FrozenDatetime:
            return cls.fromtimestamp(now, tz)

    monkeypatch.setattr(jwt.api_jwt, "datetime", FrozenDatetime)
    monkeypatch.setattr(app.verifier, "clock", lambda: float(now))
    return now


def test_iat_and_nbf_have_60_seconds_of_leeway_exp_none(app: ModuleType, frozen_now: int) -> None:
    """Clocks differ: a token minted by a clock up to 60 s ahead is accepted; an expired one never is."""
    now = frozen_now
    assert_allowed(app, hs256(iat=now + 2, exp=now + 60))  # refused before (leeway 0)
    assert_allowed(app, hs256(iat=now + 60, nbf=now + 60, exp=now + 600))
    assert_refused(app, hs256(iat=now + 61, exp=now + 600))
    assert_refused(app, hs256(iat=now - 60, nbf=now + 61, exp=now + 600))
    assert_allowed(app, hs256(iat=now - 60, exp=now + 1))
    assert_refused(app, hs256(iat=now - 60, exp=now))  # expires at this very second
    assert_refused(app, hs256(iat=now - 60, exp=now - 1))


def test_huge_token_is_refused_before_any_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_parse(*_: Any, **__: Any) -> None:
        raise AssertionError("a huge token was parsed")

    monkeypatch.setattr(jwt, "decode", must_not_parse)
    monkeypatch.setattr(jwt, "get_unverified_header", must_not_parse)
    for header in ["Bearer " + "a" * (verifier.MAX_TOKEN_BYTES + 1), "é" * 5000, f"Bearer {hs256(pad='x' * 9000)}"]:
        with pytest.raises(verifier.TokenRejected) as info:
            verifier.extract_token(header)
        assert info.value.reason == "token too large"


def test_sub_of_exactly_128_characters_is_accepted(app: ModuleType) -> None:
    assert_allowed(app, hs256(sub="a" * 128), user="a" * 128)


ACCEPTED_SUBS = [
    "alice",
    "user-42@example.com",
    "auth0|5f7c8ec7c33c6c004bbafe82",
    "7d9f5a2e-1c3b-4e8f-9a6d-0b2c4e6f8a1d",
    "Zoë Ångström",
    "用户",
    "mañana",  # n + combining tilde (a mark, not a format character)
    "🧾 buyer",
]
REFUSED_SUBS = {
    "right-to-left override": "alice\u202egnp.exe",
    "left-to-right embedding": "\u202aalice",
    "pop directional formatting": "alice\u202c",
    "first strong isolate": "alice\u2068",
    "right-to-left mark": "alice\u200f",
    "arabic letter mark": "alice\u061c",
    "zero width space": "al\u200bice",
    "zero width joiner": "alice\u200d",
    "zero width non-joiner": "\u200calice",
    "word joiner": "alice\u2060",
    "byte order mark": "\ufeffalice",
    "soft hyphen": "al\u00adice",
    "line separator": "alice\u2028bob",
    "paragraph separator": "alice\u2029",
    "no-break space": "alice\u00a0bob",
    "ideographic space": "alice\u3000",
    "tab": "alice\tbob",
    "DEL": "alice\x7f",
    "NEL": "alice\x85",
    "private use": "alice\ue000",
    "unassigned": "alice\U000e0fff",
}


@pytest.mark.parametrize("sub", ACCEPTED_SUBS)
def test_printable_subs_are_accepted(app: ModuleType, sub: str) -> None:
    assert_allowed(app, hs256(sub=sub), user=sub)


@pytest.mark.parametrize("sub", REFUSED_SUBS.values(), ids=REFUSED_SUBS.keys())
def test_sub_with_control_bidi_or_invisible_characters_is_refused(app: ModuleType, sub: str) -> None:
    assert_refused(app, hs256(sub=sub))


@pytest.mark.parametrize(
    "method_arn",
    ["", "not-an-arn", "arn:aws:execute-api:us-east-1:123456789012:abc123", "arn:aws:lambda:us-east-1:1:x/y/z"],
)
def test_unusable_method_arn_is_refused(app: ModuleType, method_arn: str) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        app.handler(token_event(f"Bearer {hs256()}", method_arn), CONTEXT)


# ----------------------------------------------------------------------------- issuer / audience


@pytest.fixture
def app_iss_aud(load_hs256: Callable[..., ModuleType]) -> ModuleType:
    return load_hs256(JWT_ISSUER=ISSUER, JWT_AUDIENCE=AUDIENCE)


def test_issuer_and_audience_accepted_when_they_match(app_iss_aud: ModuleType) -> None:
    assert_allowed(app_iss_aud, hs256(iss=ISSUER, aud=AUDIENCE))
    assert_allowed(app_iss_aud, hs256(iss=ISSUER, aud=[AUDIENCE, "other"]))


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "https://evil.example.com/", "aud": AUDIENCE},
        {"iss": None, "aud": AUDIENCE},
        {"iss": ISSUER, "aud": "other-app"},
        {"iss": ISSUER, "aud": None},
        {"iss": ISSUER, "aud": ["other-app"]},
    ],
    ids=["wrong issuer", "missing issuer", "wrong audience", "missing audience", "audience list without ours"],
)
def test_issuer_and_audience_refused_when_they_differ(app_iss_aud: ModuleType, overrides: dict[str, Any]) -> None:
    assert_refused(app_iss_aud, hs256(**overrides))


# ----------------------------------------------------------------------------- the fixed demo token


def test_the_fixed_demo_token_is_refused_whatever_the_environment(load_hs256: Callable[..., ModuleType]) -> None:
    """Only the local stack accepts it, by translating it into a real token before the authorizer sees it."""
    app = load_hs256(LEGACY_DEMO_TOKEN=LEGACY)  # the variable that once switched it on means nothing now
    for header in (LEGACY, f"Bearer {LEGACY}"):
        assert_refused(app, header)
    assert not (ROOT / "events/authorizer-token-legacy.json").exists()


def test_no_deployable_code_knows_the_fixed_token() -> None:
    deployable = [ROOT / "template.yaml", *(ROOT / "functions").rglob("*"), *(ROOT / "layers").rglob("*")]
    deployable += [*(ROOT / "statemachine").rglob("*"), *(ROOT / "events").rglob("*"), ROOT / "samconfig.toml"]
    for path in deployable:
        if path.is_file() and "__pycache__" not in path.parts:
            text = path.read_text(errors="replace")
            for needle in (LEGACY, "LEGACY_DEMO_TOKEN"):
                assert needle not in text, f"{path.relative_to(ROOT)} knows {needle}"


# ----------------------------------------------------------------------------- secret caching and rotation


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch, app: ModuleType) -> Callable[[float], None]:
    """Move the authorizer's clocks (Powertools' parameter cache, the refetch cooldown) forward."""
    offset = [0.0]

    class ShiftedDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> ShiftedDatetime:
            moment = datetime.now(tz) + timedelta(seconds=offset[0])
            return cls.fromtimestamp(moment.timestamp(), tz)

    monkeypatch.setattr(parameters_base, "datetime", ShiftedDatetime)
    real = app.signing_key.clock
    monkeypatch.setattr(app.signing_key, "clock", lambda: real() + offset[0])

    def advance(seconds: float) -> None:
        offset[0] += seconds

    return advance


def rotate(secret_arn: str, value: str = ROTATED) -> None:
    boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(SecretId=secret_arn, SecretString=value)


def test_secret_is_read_once_and_cached(app: ModuleType) -> None:
    reads = count_secret_reads(app)
    assert reads == []  # not at import: the first invocation reads it
    for _ in range(20):
        assert_allowed(app, hs256())
        assert_refused(app, "Bearer garbage")
    assert reads == ["GetSecretValue"]


def test_bad_signatures_refetch_the_secret_at_most_once_per_cooldown(
    app: ModuleType, later: Callable[[float], None]
) -> None:
    reads = count_secret_reads(app)
    forged = hs256(secret="another-secret-" + "x" * 49)
    for _ in range(20):
        assert_refused(app, forged)
    assert reads == ["GetSecretValue"] * 2  # the first read, and one early refetch
    later(app.REFETCH_COOLDOWN_SECONDS)
    for _ in range(20):
        assert_refused(app, forged)
    assert reads == ["GetSecretValue"] * 3


def test_rotation_new_key_tokens_are_accepted_at_once_and_old_ones_refused(app: ModuleType, secret_arn: str) -> None:
    assert_allowed(app, hs256())
    rotate(secret_arn)
    old_key_token = hs256()  # a fresh token, signed with the leaked key
    assert_allowed(app, hs256(secret=ROTATED))  # its bad signature fetched the new key
    assert_refused(app, old_key_token)
    assert_allowed(app, hs256(secret=ROTATED))


def test_rotation_old_key_tokens_are_refused_within_60_seconds_unprompted(
    app: ModuleType, secret_arn: str, later: Callable[[float], None]
) -> None:
    """The contract's promise, with no new-key token to prompt a refetch: the cached key expires."""
    assert_allowed(app, hs256())
    rotate(secret_arn)
    later(60)
    assert_refused(app, hs256())
    assert_allowed(app, hs256(secret=ROTATED))


def test_rotation_back_and_forth_within_the_cooldown(
    app: ModuleType, secret_arn: str, later: Callable[[float], None]
) -> None:
    assert_allowed(app, hs256())
    rotate(secret_arn)
    assert_allowed(app, hs256(secret=ROTATED))
    rotate(secret_arn, SECRET)  # rolled back at once: the cooldown holds the refetch back ...
    assert_refused(app, hs256())
    later(app.SECRET_MAX_AGE_SECONDS + 1)  # ... until the cached key expires
    assert_allowed(app, hs256())
    assert app.SECRET_MAX_AGE_SECONDS + app.REFETCH_COOLDOWN_SECONDS <= 60


def test_the_secrets_client_has_the_platforms_timeouts(app: ModuleType) -> None:
    from platform_core.config import aws_client

    expected = aws_client("secretsmanager").meta.config
    config = app.signing_key.provider.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (expected.connect_timeout, expected.read_timeout)
    assert config.retries == expected.retries
    assert config.connect_timeout < 60 and config.read_timeout < 60  # not botocore's 60 s defaults


def test_secret_read_failure_is_not_a_401_and_is_retried(monkeypatch: pytest.MonkeyPatch, secret_arn: str) -> None:
    app = import_app(monkeypatch, AUTH_MODE="hs256", JWT_SECRET_ARN=secret_arn + "-missing")
    reads = count_secret_reads(app)
    for _ in range(2):
        with pytest.raises(Exception) as info:
            app.handler(token_event(f"Bearer {hs256()}"), CONTEXT)
        assert str(info.value) != "Unauthorized"  # API Gateway answers 500, the user is not blamed
    assert reads == ["GetSecretValue", "GetSecretValue"]  # a failure is not cached


# ----------------------------------------------------------------------------- logging


def test_logs_give_the_reason_but_never_the_token_or_secret(load_hs256: Callable[..., ModuleType]) -> None:
    app = load_hs256()
    logs = capture_logs(app)
    good = hs256()
    refused = {
        hs256(exp=int(time.time()) - 1): "expired",
        hs256(secret="another-secret-" + "x" * 49): "bad signature",
        hs256(sub=None): "missing claim sub",
        unsigned(signature=b64url(b"x")): "algorithm not allowed",
        "garbage-token": "malformed token",
    }
    assert_allowed(app, f"Bearer {good}")
    for token in refused:
        assert_refused(app, f"Bearer {token}")

    lines = logs.getvalue().splitlines()
    records = [json.loads(line) for line in lines]
    assert records, "the authorizer logs its decisions"
    assert {r["service"] for r in records} == {"authorizer"}
    reasons = [r.get("reason") for r in records if r["message"] == "Token refused"]
    assert reasons == list(refused.values())
    assert [r.get("user_id") for r in records if r["message"] == "Token accepted"] == ["alice"]
    for token in [good, *refused]:
        pieces = [token, *token.split(".")[1:]]  # the whole token, its payload and its signature
        for line in lines:
            for piece in pieces:
                assert piece not in line
    assert all(SECRET not in line for line in lines)


# ----------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "AUTH_MODE"),
        ({"AUTH_MODE": "rs512"}, "AUTH_MODE"),
        ({"AUTH_MODE": "hs256"}, "JWT_SECRET_ARN"),
        ({"AUTH_MODE": "hs256", "JWT_SECRET_ARN": "  "}, "JWT_SECRET_ARN"),
        ({"AUTH_MODE": "jwks", "JWT_ISSUER": ISSUER}, "JWKS_URL"),
        ({"AUTH_MODE": "jwks", "JWT_ISSUER": ISSUER, "JWKS_URL": "http://example.com/jwks.json"}, "JWKS_URL"),
        ({"AUTH_MODE": "jwks", "JWT_ISSUER": ISSUER, "JWKS_URL": "file:///etc/passwd"}, "JWKS_URL"),
        ({"AUTH_MODE": "jwks", "JWKS_URL": "https://example.com/jwks.json"}, "JWT_ISSUER"),
        ({"AUTH_MODE": "jwks", "JWKS_URL": "https://example.com/jwks.json", "JWT_ISSUER": ISSUER}, "JWT_AUDIENCE"),
        (
            {"AUTH_MODE": "jwks", "JWKS_URL": "https://x.example/jwks", "JWT_ISSUER": ISSUER, "JWT_AUDIENCE": " "},
            "JWT_AUDIENCE",
        ),
        (
            {
                "AUTH_MODE": "jwks",
                "JWKS_URL": "https://example.com/jwks.json",
                "JWT_ISSUER": ISSUER,
                "JWT_AUDIENCE": AUDIENCE,
                "JWT_ALLOWED_CLIENT_IDS": "client-1",
            },
            "JWT_ALLOWED_CLIENT_IDS",
        ),
        (
            {
                "AUTH_MODE": "jwks",
                "JWKS_URL": "https://example.com/jwks.json",
                "JWT_ISSUER": ISSUER,
                "JWT_ALLOWED_CLIENT_IDS": " , ",
            },
            "JWT_AUDIENCE",
        ),
    ],
    ids=[
        "no mode",
        "bad mode",
        "no secret",
        "blank secret",
        "no url",
        "plain http",
        "file url",
        "no issuer",
        "jwks without audience",
        "jwks with a blank audience",
        "jwks with audience and client ids",
        "jwks with blank client ids",
    ],
)
def test_bad_configuration_fails_at_import_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str
) -> None:
    assert_config_error(lambda: import_app(monkeypatch, **env), variable)


# ----------------------------------------------------------------------------- JWKS (RS256)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


def rs256(key: rsa.RSAPrivateKey, kid: str | None, **overrides: Any) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims(**{"iss": ISSUER, "aud": AUDIENCE, **overrides}), key, algorithm="RS256", headers=headers)


class JwksServer:
    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.raw = False  # serve `keys` as the whole document
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                body = json.dumps(server.keys if server.raw else {"keys": server.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    server.keys = [public_jwk(RSA_KEYS[0], "key-1")]
    yield server
    server.close()


@pytest.fixture
def jwks_app(monkeypatch: pytest.MonkeyPatch, jwks_server: JwksServer) -> ModuleType:
    return import_app(monkeypatch, AUTH_MODE="jwks", JWKS_URL=jwks_server.url, JWT_ISSUER=ISSUER, JWT_AUDIENCE=AUDIENCE)


def test_jwks_mode_does_not_use_aws(jwks_app: ModuleType) -> None:
    assert jwks_app.signing_key is None


def test_jwks_good_token_allowed_and_key_set_fetched_once(jwks_app: ModuleType, jwks_server: JwksServer) -> None:
    assert jwks_server.hits == 0  # nothing fetched at import
    for _ in range(10):
        assert_allowed(jwks_app, f"Bearer {rs256(RSA_KEYS[0], 'key-1')}")
    assert jwks_server.hits == 1


JWKS_BAD_TOKENS: dict[str, Callable[[], str]] = {
    "unknown kid": lambda: rs256(RSA_KEYS[1], "key-unknown"),
    "no kid": lambda: rs256(RSA_KEYS[0], None),
    "known kid, other key": lambda: rs256(RSA_KEYS[1], "key-1"),
    "wrong issuer": lambda: rs256(RSA_KEYS[0], "key-1", iss="https://evil.example.com/"),
    "missing issuer": lambda: rs256(RSA_KEYS[0], "key-1", iss=None),
    "expired": lambda: rs256(RSA_KEYS[0], "key-1", exp=int(time.time()) - 1),
    "missing sub": lambda: rs256(RSA_KEYS[0], "key-1", sub=None),
    "missing exp": lambda: rs256(RSA_KEYS[0], "key-1", exp=None),
    "HS256 with the secret": hs256,
    "HS256 keyed with the public key": lambda: hs256_with_public_key(RSA_KEYS[0], "key-1"),
    "alg none": lambda: unsigned(signature=b64url(b"x"), iss=ISSUER),
    "RS512 same key": lambda: jwt.encode(claims(iss=ISSUER), RSA_KEYS[0], algorithm="RS512", headers={"kid": "key-1"}),
}


def hs256_with_public_key(key: rsa.RSAPrivateKey, kid: str) -> str:
    """The classic key-confusion attack: HMAC keyed with the (public) RSA key."""
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = b64url(json.dumps(claims(iss=ISSUER)).encode())
    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


@pytest.mark.parametrize("make", JWKS_BAD_TOKENS.values(), ids=JWKS_BAD_TOKENS.keys())
def test_jwks_bad_token_is_refused(jwks_app: ModuleType, make: Callable[[], str]) -> None:
    assert_refused(jwks_app, f"Bearer {make()}")


def test_jwks_unknown_kids_do_not_hammer_the_endpoint(jwks_app: ModuleType, jwks_server: JwksServer) -> None:
    for i in range(10):
        assert_refused(jwks_app, rs256(RSA_KEYS[1], f"key-random-{i}"))
    assert jwks_server.hits == 1  # refetches for unknown kids are rate-limited by the cooldown


def test_jwks_foreign_algorithms_never_reach_the_endpoint(jwks_app: ModuleType, jwks_server: JwksServer) -> None:
    jwks_app._jwks_client.cooldown_duration = 0
    for i in range(5):
        forged = jwt.encode(claims(iss=ISSUER), SECRET, algorithm="HS256", headers={"kid": f"kid-{i}"})
        assert_refused(jwks_app, forged)
    assert jwks_server.hits == 0


def test_jwks_key_rotation(jwks_app: ModuleType, jwks_server: JwksServer) -> None:
    jwks_app._jwks_client.cooldown_duration = 0  # let the unknown kid force a refetch right away
    old = rs256(RSA_KEYS[0], "key-1")
    new = rs256(RSA_KEYS[2], "key-2")
    assert_allowed(jwks_app, old)
    assert_refused(jwks_app, new)  # not published yet

    jwks_server.keys = [public_jwk(RSA_KEYS[0], "key-1"), public_jwk(RSA_KEYS[2], "key-2")]
    assert_allowed(jwks_app, new)  # unknown kid: the key set is fetched again
    assert_allowed(jwks_app, old)

    jwks_server.keys = [public_jwk(RSA_KEYS[2], "key-2")]  # key-1 withdrawn
    jwks_app._jwks_client.jwk_set_cache.put(None)  # as when the cached key set expires
    assert_allowed(jwks_app, new)
    assert_refused(jwks_app, old)  # a withdrawn key is no longer trusted


def test_jwks_endpoint_down_is_not_a_401(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = import_app(
        monkeypatch,
        AUTH_MODE="jwks",
        JWKS_URL=f"http://127.0.0.1:{port}/jwks.json",
        JWT_ISSUER=ISSUER,
        JWT_AUDIENCE=AUDIENCE,
    )
    with pytest.raises(Exception) as info:
        app.handler(token_event(f"Bearer {rs256(RSA_KEYS[0], 'key-1')}"), CONTEXT)
    assert str(info.value) != "Unauthorized"
    assert_refused(app, "Bearer garbage")  # still a 401 when the token itself is bad


def test_jwks_audience_is_required_on_every_token(jwks_app: ModuleType) -> None:
    """A token the same issuer minted for another API (another audience) is refused."""
    assert_allowed(jwks_app, rs256(RSA_KEYS[0], "key-1", aud=AUDIENCE))
    assert_allowed(jwks_app, rs256(RSA_KEYS[0], "key-1", aud=["other", AUDIENCE]))
    assert_refused(jwks_app, rs256(RSA_KEYS[0], "key-1", aud="other"))
    assert_refused(jwks_app, rs256(RSA_KEYS[0], "key-1", aud=None))


@pytest.fixture
def cognito_app(monkeypatch: pytest.MonkeyPatch, jwks_server: JwksServer) -> ModuleType:
    return import_app(
        monkeypatch,
        AUTH_MODE="jwks",
        JWKS_URL=jwks_server.url,
        JWT_ISSUER=ISSUER,
        JWT_ALLOWED_CLIENT_IDS="client-1, client-2",
    )


def access_token(**overrides: Any) -> str:
    """A Cognito access token: no aud, client_id and token_use instead."""
    return rs256(RSA_KEYS[0], "key-1", **{"aud": None, "client_id": "client-2", "token_use": "access", **overrides})


def test_cognito_access_tokens_of_allowed_clients_are_accepted(cognito_app: ModuleType) -> None:
    assert_allowed(cognito_app, access_token())
    assert_allowed(cognito_app, access_token(client_id="client-1"))


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "client-3"},
        {"client_id": None},
        {"client_id": ["client-1"]},
        {"token_use": "id"},
        {"token_use": None},
        {"token_use": "id", "client_id": None, "aud": "client-1"},  # an ID token of an allowed client
    ],
    ids=["other client", "no client", "client list", "id token", "no token_use", "id token with aud"],
)
def test_cognito_tokens_of_other_clients_or_uses_are_refused(cognito_app: ModuleType, overrides: dict) -> None:
    assert_refused(cognito_app, access_token(**overrides))


@pytest.mark.parametrize(
    ("key_set", "reason"),
    [
        ({"keys": []}, "the JWKS has no usable signing key"),
        ({"keys": [{"kty": "unknown-type", "kid": "key-1"}]}, "the JWKS has no usable signing key"),
        ({"not": "a key set"}, "the JWKS has no usable signing key"),
    ],
    ids=["empty", "no usable key", "not a key set"],
)
def test_an_empty_or_unusable_key_set_refuses_the_token_with_a_logged_reason(
    jwks_app: ModuleType, jwks_server: JwksServer, key_set: dict, reason: str
) -> None:
    logs = capture_logs(jwks_app)
    server_keys = jwks_server.keys
    jwks_server.keys = key_set  # type: ignore[assignment]
    jwks_server.raw = True
    assert_refused(jwks_app, rs256(RSA_KEYS[0], "key-1"))
    (line,) = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert (line["message"], line["reason"], line["level"]) == ("Token refused", reason, "ERROR")
    jwks_server.keys, jwks_server.raw = server_keys, False


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": str(int(time.time()) + 3600)},
        {"exp": [int(time.time()) + 3600]},
        {"exp": True},
        {"iat": str(int(time.time()))},
        {"iat": [1]},
        {"nbf": {"t": 1}},
        {"nbf": "0"},
        {"sub": ["alice"]},
        {"sub": 42},
    ],
    # Named by claim and type, not repr: a repr carries the clock, and pytest-xdist's workers must collect
    # the same ids.
    ids=lambda overrides: "-".join(f"{claim}-{type(value).__name__}" for claim, value in overrides.items()),
)
def test_validly_signed_token_with_a_claim_of_the_wrong_type_is_refused(
    app: ModuleType, overrides: dict[str, Any]
) -> None:
    assert_refused(app, f"Bearer {hs256(**overrides)}")
