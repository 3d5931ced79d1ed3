"""Configuration comes from environment variables set by template.yaml."""

import os
from typing import Any


class MissingConfigurationError(RuntimeError):
    """A variable the template should have set is absent: fail at start-up, loudly."""


def require_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise MissingConfigurationError(
            f"environment variable {name} is not set; it comes from template.yaml (or the local stack)"
        )
    return value


def aws_client(service: str) -> Any:
    """A boto3 client with short, standard retries: callers answer 503 rather than hang.

    boto3 honours AWS_ENDPOINT_URL, which the local stack and the tests set.
    """
    import boto3
    from botocore.config import Config

    make_client: Any = boto3.client  # one typed overload per service; callers use it untyped
    return make_client(
        service,
        config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5),
    )
