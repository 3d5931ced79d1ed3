from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jwt

from devstack.tokens import DEV_JWT_SECRET, mint_token, translate_legacy_authorization

ROOT = Path(__file__).resolve().parents[2]


def test_mint_token_claims() -> None:
    tok = mint_token("alice", ttl=60, role="x")
    claims = jwt.decode(tok, DEV_JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice" and claims["role"] == "x"
    assert claims["exp"] - claims["iat"] == 60
    assert len(DEV_JWT_SECRET.encode()) >= 32


def test_cli_prints_one_token_line() -> None:
    env = {"PATH": "/usr/bin:/bin", "JWT_SECRET": "s" * 40}
    out = subprocess.run(
        [sys.executable, "-m", "devstack", "token", "--user", "bob"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    lines = out.splitlines()
    assert len(lines) == 1
    assert jwt.decode(lines[0], "s" * 40, algorithms=["HS256"])["sub"] == "bob"


def test_the_fixed_demo_header_becomes_a_real_token_for_demo() -> None:
    secret = "t" * 40
    for header in ("thisisajwttoken", "Bearer thisisajwttoken", "bearer thisisajwttoken", " thisisajwttoken "):
        translated = translate_legacy_authorization(header, secret)
        scheme, token = translated.split()
        assert scheme == "Bearer"
        claims = jwt.decode(token, secret, algorithms=["HS256"])
        assert claims["sub"] == "demo"
        assert claims["exp"] - claims["iat"] == 3600
    # The same token while it is valid, so the gateway's authorizer cache answers the next request.
    assert translate_legacy_authorization("thisisajwttoken", secret) == translated
    assert translate_legacy_authorization("thisisajwttoken", "u" * 40) != translated  # minted per secret


def test_other_headers_pass_unchanged() -> None:
    real = mint_token("alice")
    for header in [
        "",
        "Bearer",
        real,
        f"Bearer {real}",
        "thisisajwttokenX",
        "THISISAJWTTOKEN",
        "Token thisisajwttoken",
        "Bearer thisisajwttoken extra",
    ]:
        assert translate_legacy_authorization(header, DEV_JWT_SECRET) == header
