"""The end-to-end target: the local stack on a free port, or a deployed stack (``API_URL``).

Environment for a deployed run:

- ``API_URL``: the stack output ``ApiUrl`` (``https://{api-id}.execute-api.{region}.amazonaws.com/api``).
- ``E2E_JWT_SECRET``: the HS256 secret (Secrets Manager, output ``JwtSecretArn``); tokens are
  minted for fresh users per test. Optional ``E2E_JWT_ISSUER`` / ``E2E_JWT_AUDIENCE`` are
  added as ``iss`` / ``aud`` claims when the stack checks them.
- or ``E2E_TOKEN_ALICE`` and ``E2E_TOKEN_BOB``: fixed tokens of two different users (JWKS
  mode); tests that need a fresh user or a forged-but-signed token are skipped then.
- ``E2E_DELIVERY_DELAY_SECONDS``: the stack's ``DeliveryDelaySeconds`` (default 60).

Without ``API_URL`` the local stack always runs (nothing is skipped), with a short delivery
delay so delivery is observable; a test that must act before a confirmed order is delivered holds
the stack's Wait states meanwhile (``Api.deliveries_held``), so a busy machine cannot make it late.
Deployed, the stack's delay is that window.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import Client, hs256, unique_user

ROOT = Path(__file__).resolve().parents[2]

# Short, so delivery is observable within a test; tests that must beat delivery hold it instead.
LOCAL_DELIVERY_DELAY_SECONDS = 2


@dataclass
class Api:
    base_url: str
    delivery_delay: float
    local: bool
    jwt_secret: str | None = None
    extra_claims: dict[str, Any] | None = None
    fixed_tokens: dict[str, str] | None = None
    settle_fn: Callable[[float], None] | None = None
    hold_waits_fn: Callable[[], AbstractContextManager[None]] | None = None

    @property
    def can_mint(self) -> bool:
        return self.jwt_secret is not None

    def mint(self, user: str | None, ttl: int = 3600, **claims: Any) -> str:
        """A token signed with the stack's HS256 secret (skips the test when it is not known)."""
        if self.jwt_secret is None:
            pytest.skip("needs E2E_JWT_SECRET (or the local stack) to mint tokens")
        now = int(time.time())
        body: dict[str, Any] = {**(self.extra_claims or {}), "iat": now, "exp": now + ttl}
        if user is not None:
            body["sub"] = user
        body.update(claims)
        return hs256(self.jwt_secret, {k: v for k, v in body.items() if v is not None})

    def client(self, user: str | None = None, *, authorization: str | None = None) -> Client:
        """A client for ``user`` (a fresh unique user by default)."""
        if authorization is not None:
            return Client(self.base_url, authorization, user)
        if self.fixed_tokens is not None and user in self.fixed_tokens:
            return Client(self.base_url, f"Bearer {self.fixed_tokens[user]}", None)
        user = user or unique_user()
        return Client(self.base_url, f"Bearer {self.mint(user)}", user)

    def anonymous(self) -> Client:
        return Client(self.base_url, None)

    def deliveries_held(self) -> AbstractContextManager[None]:
        """Locally: no order is delivered within the block (they are after it). Deployed: the stack's delay."""
        return self.hold_waits_fn() if self.hold_waits_fn is not None else nullcontext()

    def settle(self, timeout: float = 60.0) -> None:
        """Locally: wait until nothing is in flight. Deployed: nothing to wait on (tests poll)."""
        if self.settle_fn is not None:
            self.settle_fn(timeout)


def _deployed(url: str) -> Api:
    delay = float(os.environ.get("E2E_DELIVERY_DELAY_SECONDS", "60"))
    secret = os.environ.get("E2E_JWT_SECRET") or None
    extra = {
        claim: os.environ[var]
        for claim, var in (("iss", "E2E_JWT_ISSUER"), ("aud", "E2E_JWT_AUDIENCE"))
        if os.environ.get(var)
    }
    fixed = None
    if secret is None:
        alice, bob = os.environ.get("E2E_TOKEN_ALICE"), os.environ.get("E2E_TOKEN_BOB")
        if not (alice and bob):
            raise pytest.UsageError("API_URL is set: set E2E_JWT_SECRET, or E2E_TOKEN_ALICE and E2E_TOKEN_BOB")
        fixed = {"alice": alice, "bob": bob}
    return Api(url.rstrip("/"), delay, local=False, jwt_secret=secret, extra_claims=extra, fixed_tokens=fixed)


# Package scope, not session: the stack stops when tests/e2e is done, so another package's
# LocalStack (one per process at a time) never overlaps with it in a full `pytest` run.
@pytest.fixture(scope="package")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    url = os.environ.get("API_URL")
    if url:
        yield _deployed(url)
        return
    from devstack import LocalStack, StackOptions

    delay = int(os.environ.get("E2E_DELIVERY_DELAY_SECONDS", LOCAL_DELIVERY_DELAY_SECONDS))
    with LocalStack(
        ROOT / "template.yaml",
        StackOptions(
            port=0,
            parameter_overrides={"DeliveryDelaySeconds": str(delay)},
            logs_dir=tmp_path_factory.mktemp("e2e-logs"),
            watch=False,
            echo=lambda line: None,
        ),
    ) as stack:
        yield Api(
            stack.base_url,
            delay,
            local=True,
            jwt_secret=stack.jwt_secret,
            settle_fn=stack.inspect.wait_idle,
            hold_waits_fn=stack.inspect.hold_waits,
        )


@pytest.fixture
def alice(api: Api) -> Iterator[Client]:
    """A user of its own per test (locally and with E2E_JWT_SECRET), else the fixed token's user."""
    with closing(api.client("alice") if api.fixed_tokens else api.client(unique_user("alice"))) as client:
        yield client


@pytest.fixture
def bob(api: Api) -> Iterator[Client]:
    with closing(api.client("bob") if api.fixed_tokens else api.client(unique_user("bob"))) as client:
        yield client


@pytest.fixture
def fresh(api: Api) -> Iterator[Client]:
    """A user with no orders yet (tests that check whole lists); skipped with fixed tokens only."""
    with closing(api.client(unique_user())) as client:
        yield client
