from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jwt

from devstack.tokens import DEV_JWT_SECRET, mint_token

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
