"""`make reconcile` (python -m tools.ops reconcile) against the running local stack, from a shell with no AWS
settings: a stack whose money settled is clean (exit 0, one summary line); each kind of mismatch, made on
purpose in the tables as a bug or a lost write would leave it, is printed under its order and exits 1.

Runs before test_reconciler.py, whose stranded claims are settled by the schedule only after a while."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devstack import LocalStack
from payments.domain import CLAIM_LEASE
from platform_core.dynamo import serialize
from tests.support.chain import DECLINED_CARD, Chain
from tests.support.lambda_env import ROOT
from tools import reconcile as reconcile_tool


@pytest.fixture
def reconcile(stack: LocalStack, tmp_path: Path):
    endpoint_file = tmp_path / "endpoint.json"
    endpoint_file.write_text(
        json.dumps(
            {
                "aws_endpoint": stack.aws_endpoint,
                "queues": {q.logical_id: q.url for q in stack.model.queues.values()},
                "tables": {lid: t.name for lid, t in stack.model.tables.items()},
            }
        )
    )
    shell = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    shell["HOME"] = str(tmp_path)  # no ~/.aws either: region and credentials come from the tool

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own tool
            [sys.executable, "-m", "tools.ops", "--endpoint-file", str(endpoint_file), "reconcile", *args],
            cwd=ROOT,
            env=shell,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


def test_the_lease_is_the_payments_lease():
    assert reconcile_tool.CLAIM_LEASE == CLAIM_LEASE


def test_a_stack_whose_money_settled_is_clean(chain: Chain, reconcile):
    paid, declined = chain.create_order(), chain.create_order()
    chain.wait_payment(paid["id"])
    chain.wait_payment(declined["id"])
    with chain.stack.inspect.hold_waits():  # confirmed is seen before delivery, however busy the machine
        assert chain.pay(paid["id"]).status_code == 200
        chain.wait_order(paid["id"], "confirmed")
    assert chain.pay(declined["id"], card=DECLINED_CARD).status_code == 402
    chain.wait_order(declined["id"], "declined")

    done = reconcile()

    assert done.returncode == 0, done.stdout + done.stderr
    assert re.fullmatch(r"(\d+) charges, (\d+) payments, 0 mismatches \(the last 24 h\)\n", done.stdout), done.stdout
    assert int(done.stdout.split()[0]) >= 2, "both charges are in the window"


def _put(chain: Chain, logical_id: str, item: dict) -> None:
    chain.stack.client("dynamodb").put_item(TableName=chain.stack.physical_id(logical_id), Item=serialize(item))


def _set_payment(chain: Chain, order_id: str, **fields: str) -> None:
    names = {f"#f{i}": k for i, k in enumerate(fields)}
    values = {f":v{i}": v for i, v in enumerate(fields.values())}
    chain.stack.client("dynamodb").update_item(
        TableName=chain.stack.physical_id("PaymentsTable"),
        Key=serialize({"userId": chain.user, "orderId": order_id}),
        UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=serialize(values),
    )


def _charge(order_id: str, key: str | None = None, approved: bool = True) -> dict:
    at = datetime.now(UTC).isoformat()
    return {"key": key or f"charge/{order_id}", "kind": "charge", "amount": 2000, "approved": approved, "at": at}


def test_each_kind_of_mismatch_is_printed_and_exits_1(chain: Chain, reconcile):
    orders = {name: chain.create_order() for name in ("stranded", "refund", "twice", "processing", "refunding")}
    for order in orders.values():
        chain.wait_payment(order["id"])
    oid = {name: order["id"] for name, order in orders.items()}
    # The card charged, the payment's own write lost for good: it still reads pending.
    _put(chain, "CardSandboxTable", _charge(oid["stranded"]))
    # A refund at the processor for an order never charged.
    _put(
        chain,
        "CardSandboxTable",
        {
            "key": f"refund/{oid['refund']}",
            "kind": "refund",
            "charge": f"charge/{oid['refund']}",
            "at": datetime.now(UTC).isoformat(),
        },
    )
    # Paid once through the API, then charged again under another key.
    assert chain.pay(oid["twice"]).status_code == 200
    _put(chain, "CardSandboxTable", _charge(oid["twice"], key=f"charge/{oid['twice']}/again"))
    # Claims past the lease that the reconciler's index does not hold (no unsettledShard): nobody settles them.
    old = (datetime.now(UTC) - CLAIM_LEASE - timedelta(seconds=5)).isoformat(timespec="milliseconds")
    for name in ("processing", "refunding"):
        _set_payment(chain, oid[name], status=name, claimId="a-lost-claim", claimedAt=old.replace("+00:00", "Z"))

    done = reconcile()

    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    expected = {
        "stranded": "approved charge but the payment is pending",
        "refund": f"refund refund/{oid['refund']} without an approved charge",
        "twice": "2 charges for one order",
        "processing": "payment processing past the lease",
        "refunding": "payment refunding past the lease",
    }
    for name, what in expected.items():
        assert any(line.startswith(f"{oid[name]}: {what}") for line in lines), (name, done.stdout)
    assert re.fullmatch(r"\d+ charges, \d+ payments, [1-9]\d* mismatches \(the last 24 h\)", lines[-1])


def test_the_window_leaves_out_older_charges(chain: Chain, reconcile):
    order = chain.create_order()
    chain.wait_payment(order["id"])
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    _put(chain, "CardSandboxTable", {**_charge(order["id"]), "at": two_days_ago})

    assert order["id"] not in reconcile().stdout  # the default window: the last 24 h
    wider = reconcile("--hours", "72")
    assert f"{order['id']}: approved charge but the payment is pending" in wider.stdout.splitlines()
    assert wider.returncode == 1
