"""ReconcilerFunction through its real handler against moto (its role's DynamoDB permissions enforced): a
claim stranded by a client that gave up after a 503 is found through the sparse index and settled, with and
without the order's cancel having met it; concurrent runs settle it once."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from devstack.aws import Fault
from tests.moto.test_payments_api import open_payment
from tests.moto.test_payments_races import DECLINED_CARD, Functions, expire_claim, ledger, payment
from tests.support.lambda_env import AwsHarness, LambdaContext


def strand(aws: AwsHarness, fns: Functions, card: dict[str, Any] | None = None, *, cancel: bool = False) -> None:
    """Pay, and the write after the charge fails: the client gets 503 and never comes back."""

    def after_charge() -> None:
        if cancel:
            assert not fns.cancel(), "the cancel meets a live claim: SQS would redeliver it"
        aws.server.faults.inject(
            Fault("dynamodb", "UpdateItem", status=400, code="ProvisionedThroughputExceededException")
        )

    fns.processor.during_charge = after_charge
    assert fns.pay(card).status == 503
    aws.server.faults.clear()
    assert payment(aws)["status"] == "processing"


@pytest.fixture
def fns(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch) -> Functions:
    open_payment(aws)
    return Functions(aws, monkeypatch)


@pytest.fixture
def reconcile(aws: AwsHarness, monkeypatch: pytest.MonkeyPatch):
    handler = aws.handler("ReconcilerFunction", monkeypatch)

    def run() -> dict[str, int]:
        return handler({"source": "aws.events", "detail-type": "Scheduled Event"}, LambdaContext("ReconcilerFunction"))

    return run


@dataclass(frozen=True)
class Case:
    card: dict[str, Any] | None  # None: a good card
    cancel: bool  # the order's cancel met the live claim
    settled: str
    kinds: dict[str, int]  # what the card sandbox's ledger holds afterwards


@pytest.mark.parametrize(
    "case",
    [
        Case(None, False, "paid", {"charge": 1}),
        Case(None, True, "refunded", {"charge": 1, "refund": 1}),
        Case(DECLINED_CARD, False, "declined", {"charge": 1}),
        Case(DECLINED_CARD, True, "declined", {"charge": 1}),
    ],
    ids=["approved", "approved-cancelled", "declined", "declined-cancelled"],
)
def test_a_stranded_claim_is_settled_by_the_scheduled_reconciler(aws: AwsHarness, fns: Functions, reconcile, case):
    card, cancel, settled, kinds = case.card, case.cancel, case.settled, case.kinds
    strand(aws, fns, card, cancel=cancel)
    assert reconcile() == {}, "a claim within its lease is its charger's"
    expire_claim(aws)  # claimed months ago: also counted stale (StaleUnsettledPaymentsAlarm)
    assert reconcile() == {settled: 1, "stale": 1}
    stored = payment(aws)
    assert stored["status"] == settled
    assert "unsettledShard" not in stored, "a settled payment leaves the sparse index"
    assert ledger(aws) == kinds
    assert reconcile() == {}


def test_concurrent_reconciler_runs_settle_a_claim_once(aws: AwsHarness, fns: Functions, reconcile):
    strand(aws, fns)
    expire_claim(aws)
    with ThreadPoolExecutor(3) as pool:
        runs = list(pool.map(lambda _: reconcile(), range(3)))
    assert sum(run.get("paid", 0) for run in runs) == 1, runs
    assert all(set(run) <= {"paid", "overtaken", "stale"} for run in runs), runs
    assert payment(aws)["status"] == "paid"
    assert ledger(aws) == {"charge": 1}
