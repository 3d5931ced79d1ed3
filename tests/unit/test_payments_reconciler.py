"""The reconciler settles what no client comes back for: each stranded claim as a later pay or cancel would
(by asking the processor), each refund not yet made, once, whoever else runs meanwhile.

With an in-memory store and a clock the test moves (fast; no moto): `strand` leaves a claim the way a
client that gives up leaves it (the write after the charge failed; nobody retries)."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from payments import service
from payments.cards import parse_expiry
from payments.domain import CLAIM_LEASE, PaymentStatus
from payments.processor import Card
from payments.repository import Move
from tests.support.fakes import FakePaymentsStore, FakeProcessor, ThrottledError

USER = "alice"
GOOD = Card("4242424242424242", "123", parse_expiry("12/30"))
DECLINED = Card("4000000000000002", "123", parse_expiry("12/30"))
STALE_AFTER = timedelta(minutes=3)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)

    def __call__(self) -> str:
        return self.now.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class World:
    def __init__(self) -> None:
        self.store = FakePaymentsStore()
        self.processor = FakeProcessor()
        self.clock = Clock()
        self.deps = service.PaymentsDeps(self.store, self.processor, charge_wait=0, clock=self.clock)

    def open(self, order: str) -> None:
        service.open_payment(self.store, user_id=USER, order_id=order, bill=Decimal("19.99"), correlation_id="c")

    def strand(self, order: str, card: Card | None) -> None:
        """A claim left by a charger whose write after the charge failed (card None: it died before charging)."""
        self.open(order)
        if card is None:
            self.store.move(USER, order, Move(PaymentStatus.PROCESSING, self.clock(), "c", claim="dead"))
            return
        self.processor.during_charge = lambda: setattr(self.store, "fail_next_moves", 1)
        with pytest.raises(ThrottledError):
            service.pay(self.deps, user_id=USER, order_id=order, card=card, correlation_id="c")

    def cancel(self, order: str) -> bool:
        try:
            service.settle_cancelled_order(
                self.deps, user_id=USER, order_id=order, bill=Decimal("19.99"), correlation_id="c"
            )
        except service.PaymentBeingChargedError:
            return False
        return True

    def reconcile(self) -> Counter[str]:
        return service.reconcile(self.deps, correlation_id="reconciler", stale_after=STALE_AFTER)

    def status(self, order: str) -> PaymentStatus:
        record = self.store.get(USER, order)
        assert record is not None
        return record.status


@pytest.fixture
def world() -> World:
    return World()


@pytest.mark.parametrize(
    ("card", "cancelled", "settled"),
    [
        (GOOD, False, PaymentStatus.PAID),
        (GOOD, True, PaymentStatus.REFUNDED),
        (DECLINED, False, PaymentStatus.DECLINED),
        (DECLINED, True, PaymentStatus.DECLINED),
        (None, False, PaymentStatus.PENDING),
        (None, True, PaymentStatus.VOIDED),
    ],
    ids=["approved", "approved-cancelled", "declined", "declined-cancelled", "no-charge", "no-charge-cancelled"],
)
def test_a_stranded_claim_is_settled_past_its_lease_with_no_client_coming_back(world, card, cancelled, settled):
    world.strand("o1", card)
    if cancelled:
        assert not world.cancel("o1"), "the claim is live: the cancel leaves it marked, and SQS redelivers"
    assert world.reconcile() == Counter(), "a live claim is its charger's"
    assert world.status("o1") == PaymentStatus.PROCESSING
    world.clock.advance(CLAIM_LEASE + timedelta(seconds=1))
    assert world.reconcile() == Counter({settled.value: 1})
    assert world.status("o1") == settled
    kinds = world.processor.ledger_kinds()
    assert kinds.get("charge", 0) == (card is not None), "the reconciler asks the processor; it never charges"
    assert kinds.get("refund", 0) == (settled == PaymentStatus.REFUNDED)
    assert world.reconcile() == Counter(), "a settled payment leaves the reconciler's index"
    if cancelled:
        assert world.cancel("o1"), "the redelivered cancel finds it settled"
        assert world.status("o1") == settled
        assert world.processor.ledger_kinds().get("refund", 0) == (settled == PaymentStatus.REFUNDED)


def test_a_refund_that_failed_stays_refunding_and_the_reconciler_makes_it(world, monkeypatch):
    world.open("o1")
    service.pay(world.deps, user_id=USER, order_id="o1", card=GOOD, correlation_id="c")

    def processor_down(**_: object) -> None:
        raise ThrottledError("the processor is down")

    with monkeypatch.context() as down:
        down.setattr(world.processor, "refund", processor_down)
        with pytest.raises(ThrottledError):
            world.cancel("o1")
        assert world.status("o1") == PaymentStatus.REFUNDING, "never refunded before the processor refunded"
        world.clock.advance(CLAIM_LEASE + timedelta(seconds=1))
        assert world.reconcile() == Counter({"failed": 1})
        assert world.status("o1") == PaymentStatus.REFUNDING
    assert world.reconcile() == Counter({"refunded": 1})
    assert world.status("o1") == PaymentStatus.REFUNDED
    assert world.processor.ledger_kinds() == {"charge": 1, "refund": 1}


def test_concurrent_runs_settle_each_claim_once(world):
    orders = [f"o{i:02}" for i in range(20)]
    for order in orders:
        world.strand(order, GOOD if int(order[1:]) % 2 else None)
    world.clock.advance(CLAIM_LEASE + timedelta(seconds=1))
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda _: world.reconcile(), range(4)))
    total = sum(runs, Counter())
    assert total["paid"] == 10 and total["pending"] == 10, total
    assert set(total) <= {"paid", "pending", "overtaken"}
    assert {world.status(o) for o in orders} == {PaymentStatus.PAID, PaymentStatus.PENDING}
    assert world.processor.ledger_kinds() == {"charge": 10}


def test_a_claim_that_outlived_several_runs_is_counted_stale(world):
    world.strand("o1", GOOD)
    world.clock.advance(CLAIM_LEASE + STALE_AFTER + timedelta(seconds=1))
    assert world.reconcile() == Counter({"stale": 1, "paid": 1})


def test_a_payment_the_charger_records_meanwhile_is_left_alone(world):
    world.strand("o1", GOOD)
    world.clock.advance(CLAIM_LEASE + timedelta(seconds=1))
    stranded = world.store.get(USER, "o1")
    assert stranded is not None
    world.store.move(USER, "o1", Move(PaymentStatus.PAID, world.clock(), "c", claim_id=stranded.claimId))
    assert world.reconcile() == Counter()
    assert world.status("o1") == PaymentStatus.PAID
