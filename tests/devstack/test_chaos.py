"""Rate-based chaos in the local stack engine: AWS errors and timeouts, dead workers, refused deliveries."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
import httpx
import pytest
from botocore.config import Config

from devstack import LocalStack
from devstack.template import REGION
from loadtest.chaos import AWS_ERRORS, Chaos, ChaosConfig, attach

AUTH = {"Authorization": "Bearer user-bob"}


def function_client(stack: LocalStack, service: str = "dynamodb") -> Any:
    """A client that looks like a function's (user agent) and never retries, to see each fault."""
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=stack.aws_endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            user_agent_extra="exec-env/AWS_Lambda_python3.13",
            read_timeout=5,
        ),
    )


@pytest.fixture
def chaos_on(stack: LocalStack) -> Iterator[Any]:
    attached: list[Chaos] = []

    def on(**kwargs: Any) -> Chaos:
        chaos = attach(stack, ChaosConfig(**kwargs))
        attached.append(chaos)
        chaos.start()
        return chaos

    yield on
    for chaos in attached:
        chaos.stop()
    stack.inspect.wait_idle(30)


def outcomes(stack: LocalStack, n: int) -> list[str]:
    ddb = function_client(stack)
    table = stack.physical_id("Table")
    seen = []
    for _ in range(n):
        try:
            ddb.get_item(TableName=table, Key={"pk": {"S": "chaos-nothing"}})
            seen.append("ok")
        except botocore.exceptions.ClientError as exc:
            err = exc.response
            seen.append(f"{err['ResponseMetadata']['HTTPStatusCode']} {err['Error']['Code']}")
    return seen


def test_a_share_of_aws_calls_fails_with_real_codes_and_a_seed_repeats_it(stack: LocalStack, chaos_on: Any) -> None:
    kinds = ("throttled", "internal", "unavailable")
    chaos = chaos_on(seed=7, aws_rate=0.3, kinds=kinds, kill_rate=0, delivery_rate=0)
    first = outcomes(stack, 200)
    failed = Counter(o for o in first if o != "ok")
    expected = {f"{status} {code}" for status, code in AWS_ERRORS["dynamodb"].values()}
    assert set(failed) == expected  # each of DynamoDB's own errors, nothing else
    assert 30 <= sum(failed.values()) <= 90  # about 30 % of 200
    injected = {k: v for k, v in chaos.counts().items() if k.startswith("aws dynamodb GetItem ")}
    assert sum(injected.values()) == sum(failed.values())
    assert all(k.endswith("[function]") for k in injected)
    assert any(k.endswith("[poller]") for k in chaos.counts())  # the stream poller's calls fail too
    chaos.stop()
    assert outcomes(stack, 20) == ["ok"] * 20  # stopped: nothing fails
    # The same seed draws the same schedule; another seed another one.
    again = chaos_on(seed=7, aws_rate=0.3, kinds=kinds, kill_rate=0, delivery_rate=0, internal=False)
    assert outcomes(stack, 200) == first
    again.stop()
    chaos_on(seed=8, aws_rate=0.3, kinds=kinds, kill_rate=0, delivery_rate=0)
    assert outcomes(stack, 200) != first


def test_clients_other_than_functions_and_pollers_are_spared(stack: LocalStack, chaos_on: Any) -> None:
    chaos_on(aws_rate=1.0, kill_rate=0, delivery_rate=0)
    ddb = stack.client("dynamodb")  # a test's (or the checker's) client
    for _ in range(20):
        ddb.get_item(TableName=stack.physical_id("Table"), Key={"pk": {"S": "chaos-nothing"}})


def test_timeouts_drop_the_connection_with_or_without_applying_the_request(stack: LocalStack, chaos_on: Any) -> None:
    chaos = chaos_on(seed=3, aws_rate=1.0, kinds=("timeout",), timeout_hold=0.0, kill_rate=0, delivery_rate=0)
    ddb = function_client(stack)
    table = stack.physical_id("Table")
    for i in range(20):
        with pytest.raises(botocore.exceptions.HTTPClientError):  # ConnectionClosedError
            ddb.put_item(TableName=table, Item={"pk": {"S": f"plain-timeout-{i}"}})
    chaos.stop()
    stored = [
        i
        for i in range(20)
        if "Item" in stack.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": f"plain-timeout-{i}"}})
    ]
    applied = chaos.counts()["aws dynamodb PutItem timeout (applied) [function]"]
    assert 0 < len(stored) < 20
    assert len(stored) == applied


def test_workers_are_killed_mid_invocation_at_the_rate(stack: LocalStack, chaos_on: Any) -> None:
    before = stack.pools["EchoFunction"].pids()
    chaos = chaos_on(kill_rate=1.0, kill_functions=("EchoFunction",), aws_rate=0, delivery_rate=0)
    r = httpx.get(f"{stack.base_url}/echo/sleep", headers=AUTH, timeout=30)  # killed well before its timeout
    assert r.status_code == 502
    assert chaos.counts()["kill EchoFunction"] == 1
    assert any("Runtime.ExitError" in i.outcome for i in stack.invocations if i.function == "EchoFunction")
    assert not [k for k in chaos.counts() if "AuthFunction" in k]  # the authorizer ran too: not a target
    chaos.stop()
    assert httpx.get(f"{stack.base_url}/echo/x", headers=AUTH, timeout=30).status_code == 200
    assert not set(before) & set(stack.pools["EchoFunction"].pids())


def test_a_refused_delivery_comes_back_after_the_visibility_timeout(stack: LocalStack, chaos_on: Any) -> None:
    chaos = chaos_on(seed=1, delivery_rate=0.5, aws_rate=0, kill_rate=0)
    sqs = stack.client("sqs")
    for i in range(6):
        sqs.send_message(QueueUrl=stack.physical_id("WorkQueue"), MessageBody=json.dumps({"pk": f"plain-refused-{i}"}))
    stack.inspect.wait_idle(60)
    chaos.stop()
    refused = chaos.counts()["delivery refused QueueFunction"]
    assert refused >= 1
    ddb = stack.client("dynamodb")
    table = stack.physical_id("Table")
    for i in range(6):  # every message was processed in the end (the fixture's DLQ takes the 2nd failure)
        key = {"pk": {"S": f"seen-plain-refused-{i}"}}
        in_dlq = [
            m["Body"]
            for m in sqs.receive_message(
                QueueUrl=stack.physical_id("WorkDLQ"), MaxNumberOfMessages=10, VisibilityTimeout=0
            ).get("Messages", [])
        ]
        assert "Item" in ddb.get_item(TableName=table, Key=key) or any(f"refused-{i}" in b for b in in_dlq)
    assert any("TooManyRequestsException" in inv.outcome for inv in stack.invocations)
