from __future__ import annotations

import json
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import botocore.exceptions
import httpx
import pytest

from devstack import LocalStack
from devstack.aws import Fault

AUTH = {"Authorization": "Bearer user-bob"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_proxy_event_env_and_context(stack: LocalStack) -> None:
    r = httpx.post(f"{stack.base_url}/echo/x?a=1&a=2", headers=AUTH, content=b'{"k": 1}', timeout=30)
    assert r.status_code == 200
    assert r.headers.get_list("set-cookie") == ["a=1", "b=2"]
    doc = r.json()
    ev = doc["event"]
    assert ev["resource"] == "/echo/{thing}" and ev["path"] == "/echo/x" and ev["httpMethod"] == "POST"
    assert ev["pathParameters"] == {"thing": "x"}
    assert ev["queryStringParameters"] == {"a": "2"}
    assert ev["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert ev["body"] == '{"k": 1}' and ev["isBase64Encoded"] is False
    rc = ev["requestContext"]
    assert rc["stage"] == "api" and rc["path"] == "/api/echo/x" and rc["resourcePath"] == "/echo/{thing}"
    assert rc["authorizer"] == {"principalId": "bob", "userId": "bob", "tier": "gold"}
    env = doc["env"]
    assert env["AWS_ENDPOINT_URL"] == stack.aws_endpoint
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert env["OVERRIDDEN"] == "from-function"
    assert "LEGACY_DEMO_TOKEN" not in env  # no function is told the fixed token
    assert doc["layer"] == "layer-ok"
    assert doc["context"]["memory_limit_in_mb"] == 128
    assert 0 < doc["context"]["remaining"] <= 2000


def test_authorizer_outcomes(stack: LocalStack) -> None:
    url = f"{stack.base_url}/echo/x"
    assert httpx.get(url, timeout=30).status_code == 401  # missing header: authorizer not called
    r = httpx.get(url, headers={"Authorization": "nope"}, timeout=30)
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert httpx.get(url, headers={"Authorization": "deny"}, timeout=30).json()["title"] == "Denied"
    assert httpx.get(url, headers={"Authorization": "boom"}, timeout=30).status_code == 502
    legacy = httpx.get(url, headers={"Authorization": "thisisajwttoken"}, timeout=30)
    assert legacy.status_code == 200, (legacy.status_code, legacy.text)
    assert legacy.json()["event"]["requestContext"]["authorizer"]["principalId"] == "demo"
    assert httpx.get(f"{stack.base_url}/public", timeout=30).status_code == 200


def test_gateway_errors(stack: LocalStack) -> None:
    base = stack.base_url
    assert httpx.get(f"{base}/nope", timeout=30).json() == {"title": "Not Found", "status": 404}
    assert httpx.delete(f"{base}/public", timeout=30).status_code == 404
    for thing in ("raise", "garbage", "sleep", "exit"):
        r = httpx.get(f"{base}/echo/{thing}", headers=AUTH, timeout=30)
        assert r.status_code == 502, thing
    # the stack keeps serving after a timeout and a crash (workers restarted)
    assert httpx.get(f"{base}/echo/a%2Fb", headers=AUTH, timeout=30).json()["event"]["pathParameters"] == {
        "thing": "a/b"
    }
    big = httpx.post(f"{base}/echo/x", headers=AUTH, content=b"x" * (10 * 1024 * 1024 + 1), timeout=30)
    assert big.status_code == 413
    binary = httpx.get(f"{base}/echo/binary", headers=AUTH, timeout=30)
    assert binary.content == b"\xff\x00"
    outcomes = [i.outcome for i in stack.invocations if i.function == "EchoFunction"]
    assert any("Sandbox.Timedout" in o for o in outcomes)
    assert any("Runtime.ExitError" in o for o in outcomes)


def test_large_responses_are_compressed_for_clients_that_accept_it(stack: LocalStack) -> None:
    url = f"{stack.base_url}/echo/x"
    plain = httpx.get(url, headers={**AUTH, "Accept-Encoding": "identity"}, timeout=30)
    assert "content-encoding" not in plain.headers
    assert len(plain.content) >= 512  # the fixture's MinimumCompressionSize
    for coding in ("gzip", "deflate"):
        packed = httpx.get(url, headers={**AUTH, "Accept-Encoding": f"br;q=1, {coding}"}, timeout=30)
        assert packed.headers["content-encoding"] == coding
        assert int(packed.headers["content-length"]) < len(plain.content)
        assert packed.json()["event"]["path"] == "/echo/x"  # httpx decoded it
    refused = httpx.get(url, headers={**AUTH, "Accept-Encoding": "gzip;q=0, deflate;q=0"}, timeout=30)
    assert "content-encoding" not in refused.headers
    small = httpx.get(f"{stack.base_url}/echo/binary", headers={**AUTH, "Accept-Encoding": "gzip"}, timeout=30)
    assert small.content == b"\xff\x00" and "content-encoding" not in small.headers
    gateway_404 = httpx.get(f"{stack.base_url}/nope", headers={"Accept-Encoding": "gzip"}, timeout=30)
    assert gateway_404.status_code == 404 and "content-encoding" not in gateway_404.headers


def test_concurrent_requests_use_several_workers(stack: LocalStack) -> None:
    pids: list[int] = []
    barrier = threading.Barrier(3)

    def call() -> None:
        barrier.wait()
        r = httpx.get(f"{stack.base_url}/echo/slowish", headers=AUTH, timeout=30)
        pids.append(r.json()["pid"])

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(pids)) > 1


def test_stream_to_queue_chain_and_logs(stack: LocalStack) -> None:
    r = httpx.get(f"{stack.base_url}/echo/put?pk=chain1", headers=AUTH, timeout=30)
    assert r.status_code == 200
    stack.inspect.wait_idle(30)
    item = stack.client("dynamodb").get_item(TableName=stack.physical_id("Table"), Key={"pk": {"S": "seen-chain1"}})
    assert item["Item"]["receives"]["S"] == "1"
    assert any(i.trigger == "stream Table" for i in stack.invocations)
    assert any('"message": "echo"' in line for line in stack.function_logs("EchoFunction"))


def test_stream_filter_criteria_drop_records_before_the_function(stack: LocalStack) -> None:
    """The fixture's filter admits INSERTs of keys not starting with "seen-": the rest never invoke it."""
    ddb = stack.client("dynamodb")
    table = stack.physical_id("Table")
    stack.inspect.wait_idle(30)

    def stream_invocations() -> int:
        return sum(1 for i in stack.invocations if i.function == "StreamFunction")

    before = stream_invocations()
    ddb.put_item(TableName=table, Item={"pk": {"S": "seen-filtered"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "seen-filtered"}, "v": {"S": "modified"}})
    ddb.delete_item(TableName=table, Key={"pk": {"S": "seen-filtered"}})
    stack.inspect.wait_idle(30)
    assert stream_invocations() == before
    # An admitted record still flows: it reaches the queue, whose consumer writes a "seen-" item
    # (filtered out in turn, so exactly one more stream invocation).
    ddb.put_item(TableName=table, Item={"pk": {"S": "filter-admitted"}})
    stack.inspect.wait_idle(30)
    assert stream_invocations() == before + 1
    seen = ddb.get_item(TableName=table, Key={"pk": {"S": "seen-filter-admitted"}})
    assert seen["Item"]["receives"]["S"] == "1"


def test_partial_batch_failure_goes_to_dlq_and_redrive(stack: LocalStack) -> None:
    sqs = stack.client("sqs")
    url = stack.physical_id("WorkQueue")
    sqs.send_message(QueueUrl=url, MessageBody="fail-1")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"pk": "plain-ok"}))
    stack.inspect.wait_idle(30)
    ddb = stack.client("dynamodb")
    assert "Item" in ddb.get_item(TableName=stack.physical_id("Table"), Key={"pk": {"S": "seen-plain-ok"}})
    dlq = stack.physical_id("WorkDLQ")
    msgs = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    assert [m["Body"] for m in msgs] == ["fail-1"]
    assert any("1 failed items" in i.outcome for i in stack.invocations)
    assert stack.redrive("WorkDLQ") == 1
    stack.inspect.wait_idle(30)  # it fails again and ends in the DLQ again
    msgs = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    assert [m["Body"] for m in msgs] == ["fail-1"]


def test_crashing_consumer_keeps_messages_until_dlq(stack: LocalStack) -> None:
    sqs = stack.client("sqs")
    sqs.send_message(QueueUrl=stack.physical_id("WorkQueue"), MessageBody="crash")
    stack.inspect.wait_idle(30)
    bodies = [
        m["Body"]
        for m in sqs.receive_message(
            QueueUrl=stack.physical_id("WorkDLQ"), MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", [])
    ]
    assert "crash" in bodies
    assert any("consumer crashed" in i.outcome for i in stack.invocations)


def test_sns_filter_and_state_machine(stack: LocalStack) -> None:
    sns = stack.client("sns")
    topic = stack.physical_id("Topic")
    attrs = {"type": {"DataType": "String", "StringValue": "wanted"}}
    sns.publish(TopicArn=topic, Message=json.dumps({"pk": "plain-sns"}), MessageAttributes=attrs)
    other = {"type": {"DataType": "String", "StringValue": "other"}}
    sns.publish(TopicArn=topic, Message=json.dumps({"pk": "plain-filtered"}), MessageAttributes=other)
    sfn = stack.client("stepfunctions")
    sfn.start_execution(stateMachineArn=stack.physical_id("Machine"), name="m-1", input='{"pk": "m-1"}')
    stack.inspect.wait_idle(30)
    ddb = stack.client("dynamodb")
    table = stack.physical_id("Table")
    assert "Item" in ddb.get_item(TableName=table, Key={"pk": {"S": "seen-plain-sns"}})
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "seen-plain-filtered"}})
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "m-1"}})["Item"]["kind"]["S"] == "from-machine"


def test_fault_injection_and_request_counts(stack: LocalStack) -> None:
    stack.inspect.reset_aws_requests()
    ddb = stack.client("dynamodb")
    table = stack.physical_id("Table")
    stack.faults.inject(
        Fault(
            service="dynamodb", operation="PutItem", status=400, code="ProvisionedThroughputExceededException", times=10
        )
    )
    with pytest.raises(botocore.exceptions.ClientError) as err:
        ddb.put_item(TableName=table, Item={"pk": {"S": "plain-fault"}})
    assert err.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    stack.faults.clear()
    ddb.put_item(TableName=table, Item={"pk": {"S": "plain-after"}})
    counts = stack.inspect.aws_requests()
    assert counts[("dynamodb", "PutItem")] >= 2
    stack.faults.inject(Fault(service="sns", operation="Publish", status=500, code="InternalError", times=1))
    sns = stack.client("sns")
    sns.publish(TopicArn=stack.physical_id("Topic"), Message="{}")  # botocore retries once and succeeds
    assert stack.inspect.aws_requests()[("sns", "Publish")] == 2
    stack.faults.inject(Fault(service="sqs", operation="SendMessage", status=500, code="InternalError", seconds=60))
    with pytest.raises(botocore.exceptions.ClientError):
        stack.client("sqs").send_message(QueueUrl=stack.physical_id("WorkQueue"), MessageBody="x")
    stack.faults.clear()
    stack.inspect.wait_idle(30)


def test_racing_conditional_writes_have_one_winner(stack: LocalStack) -> None:
    """DynamoDB applies a conditional write atomically; plain moto lets two racers both pass the check."""
    ddb = stack.client("dynamodb")
    table = stack.physical_id("Table")
    racers = 8
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race shows within a few rounds
    try:
        winners = []
        with ThreadPoolExecutor(racers) as pool:
            for round_no in range(60):
                key = {"pk": {"S": f"race-{round_no}"}}
                ddb.put_item(TableName=table, Item={**key, "status": {"S": "pending"}})
                start = threading.Barrier(racers)

                def move(racer: int, key: dict[str, Any] = key, start: threading.Barrier = start) -> bool:
                    start.wait()
                    try:
                        ddb.update_item(
                            TableName=table,
                            Key=key,
                            UpdateExpression="SET #s = :to, winner = :me",
                            ConditionExpression="#s = :from",
                            ExpressionAttributeNames={"#s": "status"},
                            ExpressionAttributeValues={
                                ":to": {"S": "declined"},
                                ":from": {"S": "pending"},
                                ":me": {"N": str(racer)},
                            },
                        )
                    except ddb.exceptions.ConditionalCheckFailedException:
                        return False
                    return True

                winners.append(sum(pool.map(move, range(racers))))
    finally:
        sys.setswitchinterval(switch_interval)
    assert winners == [1] * len(winners)


def test_killed_worker_is_replaced(stack: LocalStack) -> None:
    pool = stack.pools["EchoFunction"]
    for pid in pool.pids():
        os.kill(pid, signal.SIGKILL)
    r = httpx.get(f"{stack.base_url}/public", timeout=30)
    assert r.status_code == 200
