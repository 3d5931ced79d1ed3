"""Shared fixtures: moto in server mode with the template's resources, and the functions' environments."""

import os
from collections.abc import Iterator

import pytest

from devstack.aws import MotoServer
from tests.support.lambda_env import AwsHarness, moto_server, reset_moto

# Never reach a real AWS account, whatever the developer's shell holds.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    AWS_ACCOUNT_ID_ENDPOINT_MODE="disabled",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_DEV="false",
)


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    yield from moto_server()


@pytest.fixture
def aws(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> AwsHarness:
    """A clean moto with every resource of template.yaml (DeliveryDelaySeconds=0)."""
    reset_moto(moto)
    moto.faults.clear()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    return AwsHarness(moto, {"DeliveryDelaySeconds": "0"})
