"""The payment use cases alone, with an in-memory store and the sandbox processor (fast; no moto).

Each race is driven by the processor: its charge lets something else run before the result is
recorded. tests/moto/test_payments_races.py drives the same races through the real handlers.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from payments import service
from payments.cards import parse_expiry
from payments.domain import PaymentStatus
from payments.processor import Card, charge_key, refund_key
from payments.repository import Move
from platform_core.clock import utc_now_iso
from tests.support.fakes import FakePaymentsStore, FakeProcessor, ThrottledError

USER, ORDER = "alice", "01JD0000000000000000000001"
GOOD = Card("4242424242424242", "123", parse_expiry("12/30"))
DECLINED = Card("4000000000000002", "123", parse_expiry("12/30"))


@pytest.fixture
def store() -> FakePaymentsStore:
    store = FakePaymentsStore()
    service.open_payment(store, user_id=USER, order_id=ORDER, bill=Decimal("19.99"), correlation_id="c")
    return store


@pytest.fixture
def processor() -> FakeProcessor:
    return FakeProcessor()


def pay(store: FakePaymentsStore, processor: FakeProcessor, card: Card = GOOD):
    return service.pay(
        service.PaymentsDeps(store, processor), user_id=USER, order_id=ORDER, card=card, correlation_id="c"
    )


def cancel(store: FakePaymentsStore, processor: FakeProcessor, charge_wait: float = 0) -> bool:
    """One delivery of order-cancelled: True when consumed, False when it must be redelivered."""
    try:
        service.settle_cancelled_order(
            service.PaymentsDeps(store, processor, charge_wait=charge_wait),
            user_id=USER,
            order_id=ORDER,
            bill=Decimal("19.99"),
            correlation_id="c",
        )
    except service.PaymentBeingChargedError:
        return False
    return True


def status(store: FakePaymentsStore) -> PaymentStatus:
    record = store.get(USER, ORDER)
    assert record is not None
    return record.status


def test_pay_claims_then_charges_then_records(store, processor):
    seen: list[PaymentStatus] = []
    processor.during_charge = lambda: seen.append(status(store))
    payment = pay(store, processor)
    assert seen == [PaymentStatus.PROCESSING]
    assert payment.status == PaymentStatus.PAID
    assert payment.bill == Decimal("19.99") and isinstance(payment.bill, Decimal)
    assert payment.card is not None and payment.card.last4 == "4242"
    assert processor.charge_calls == [charge_key(ORDER)]


def test_a_second_pay_while_charging_is_a_conflict_and_charges_nothing(store, processor):
    second: list[BaseException] = []

    def pay_again() -> None:
        with pytest.raises(service.PaymentConflictError) as conflict:
            pay(store, processor)
        second.append(conflict.value)

    processor.during_charge = pay_again
    assert pay(store, processor).status == PaymentStatus.PAID
    assert isinstance(second[0], service.PaymentBeingChargedError)
    assert processor.charge_calls == [charge_key(ORDER)]


def test_many_concurrent_pays_charge_once(store, processor):
    def attempt(_: int) -> str:
        try:
            return pay(store, processor).status.value
        except service.PaymentConflictError:
            return "conflict"

    with ThreadPoolExecutor(8) as pool:
        outcomes = sorted(pool.map(attempt, range(8)))
    assert outcomes.count("paid") == 1
    assert processor.charge_calls == [charge_key(ORDER)]


def test_cancel_during_an_approved_charge_waits_then_refunds_once_with_its_own_key(store, processor):
    during: list[bool] = []
    processor.during_charge = lambda: during.append(cancel(store, processor))
    assert pay(store, processor).status == PaymentStatus.PAID
    assert during == [False]  # redelivered later, not voided under the charger's feet
    assert cancel(store, processor)
    assert cancel(store, processor)  # a duplicate delivery
    assert status(store) == PaymentStatus.REFUNDED
    assert set(processor.refund_calls) == {refund_key(ORDER)} != {charge_key(ORDER)}
    assert processor.ledger_kinds() == {"charge": 1, "refund": 1}


def test_cancel_waits_briefly_for_a_charge_in_flight_and_refunds_it_in_one_delivery(store, processor):
    charging, release = threading.Event(), threading.Event()

    def slow_provider() -> None:
        charging.set()
        release.wait(10)

    processor.during_charge = slow_provider
    with ThreadPoolExecutor(1) as pool:
        paid = pool.submit(pay, store, processor)
        assert charging.wait(10)
        threading.Timer(0.2, release.set).start()  # the provider answers while the cancel waits
        assert cancel(store, processor, charge_wait=30)
        assert paid.result().status == PaymentStatus.PAID
    assert status(store) == PaymentStatus.REFUNDED
    assert processor.ledger_kinds() == {"charge": 1, "refund": 1}


def test_cancel_during_a_declined_charge_ends_declined(store, processor):
    processor.during_charge = lambda: cancel(store, processor)
    with pytest.raises(service.PaymentDeclinedError):
        pay(store, processor, DECLINED)
    assert cancel(store, processor)
    assert status(store) == PaymentStatus.DECLINED
    assert processor.refund_calls == []


def test_write_failing_after_an_approved_charge_then_cancel_refunds_once(store, processor):
    def throttle() -> None:
        store.fail_next_moves = 1

    processor.during_charge = throttle
    with pytest.raises(ThrottledError):
        pay(store, processor)
    assert status(store) == PaymentStatus.PROCESSING
    assert not cancel(store, processor)  # its charger might still record it
    store.age_claim(USER, ORDER)
    assert cancel(store, processor)
    assert status(store) == PaymentStatus.REFUNDED
    assert processor.ledger_kinds() == {"charge": 1, "refund": 1}


def test_write_failing_after_an_approved_charge_is_settled_by_the_next_pay(store, processor):
    processor.during_charge = lambda: setattr(store, "fail_next_moves", 1)
    with pytest.raises(ThrottledError):
        pay(store, processor)
    with pytest.raises(service.PaymentBeingChargedError):
        pay(store, processor)
    store.age_claim(USER, ORDER)
    payment = pay(store, processor, DECLINED)  # whatever card the retry brings, the first charge stands
    assert payment.status == PaymentStatus.PAID
    assert payment.card is not None and payment.card.last4 == "4242"
    assert processor.charge_calls == [charge_key(ORDER)]
    with pytest.raises(service.PaymentConflictError):
        pay(store, processor)


def test_a_dead_claim_without_a_charge_is_released_to_the_next_pay(store, processor):
    store.move(USER, ORDER, Move(PaymentStatus.PROCESSING, utc_now_iso(), "c", claim="x"))
    with pytest.raises(service.PaymentBeingChargedError):
        pay(store, processor)
    store.age_claim(USER, ORDER)
    assert pay(store, processor).status == PaymentStatus.PAID
    assert processor.charge_calls == [charge_key(ORDER)]


def test_a_dead_claim_without_a_charge_is_voided_by_the_cancel(store, processor):
    store.move(USER, ORDER, Move(PaymentStatus.PROCESSING, "2026-01-01T00:00:00.000Z", "c", claim="x"))
    store.age_claim(USER, ORDER)
    assert cancel(store, processor)
    assert status(store) == PaymentStatus.VOIDED
    assert processor.refund_calls == []


def test_a_dead_declined_claim_is_declined_by_the_cancel(store, processor):
    processor.during_charge = lambda: setattr(store, "fail_next_moves", 1)
    with pytest.raises(ThrottledError):
        pay(store, processor, DECLINED)
    store.age_claim(USER, ORDER)
    assert cancel(store, processor)
    record = store.get(USER, ORDER)
    assert record is not None
    assert (record.status, record.declineReason) == (PaymentStatus.DECLINED, "card_declined")


@pytest.mark.parametrize(
    ("before", "after"),
    [(None, PaymentStatus.VOIDED), ("pending", PaymentStatus.VOIDED), ("paid", PaymentStatus.REFUNDED)],
)
def test_cancel_settles_each_status(processor, before, after):
    store = FakePaymentsStore()
    if before is not None:
        service.open_payment(store, user_id=USER, order_id=ORDER, bill=Decimal(5), correlation_id="c")
    if before == "paid":
        pay(store, processor)
    assert cancel(store, processor)
    service.open_payment(store, user_id=USER, order_id=ORDER, bill=Decimal(5), correlation_id="c")  # late: no-op
    assert status(store) == after
    assert processor.refund_calls == ([refund_key(ORDER)] if after == PaymentStatus.REFUNDED else [])


def test_paying_a_settled_or_missing_payment(store, processor):
    with pytest.raises(service.PaymentNotFoundError):
        service.pay(
            service.PaymentsDeps(store, processor), user_id="bob", order_id=ORDER, card=GOOD, correlation_id="c"
        )
    assert cancel(store, processor)
    with pytest.raises(service.PaymentConflictError) as conflict:
        pay(store, processor)
    assert conflict.value.payment.status == PaymentStatus.VOIDED
    assert processor.charge_calls == []


def test_a_cancel_waits_for_a_live_claim_by_the_injected_clock_and_sleep(store, processor):
    """The wait is measured and slept through PaymentsDeps: no real time passes in the test."""
    slept: list[float] = []
    moments = iter(range(100))
    deps = service.PaymentsDeps(
        store,
        processor,
        charge_wait=1.0,
        clock=lambda: "2026-12-03T12:00:00.000Z",
        claims=lambda: "claim-1",
        sleep=slept.append,
        monotonic=lambda: next(moments) * 0.25,
    )
    processor.during_charge = lambda: cancel_meeting_the_charge(deps)
    assert service.pay(deps, user_id=USER, order_id=ORDER, card=GOOD, correlation_id="c").status == "paid"
    assert slept == [service.CHARGE_POLL_SECONDS] * 3, "polled until charge_wait had passed on the given clock"
    record = store.get(USER, ORDER)
    assert record is not None
    assert (record.claimId, record.updatedAt) == ("claim-1", "2026-12-03T12:00:00.000Z")


def cancel_meeting_the_charge(deps: service.PaymentsDeps) -> None:
    with pytest.raises(service.PaymentBeingChargedError):
        service.settle_cancelled_order(deps, user_id=USER, order_id=ORDER, bill=Decimal("19.99"), correlation_id="c")
