"""The order use cases alone, with an in-memory store and delivery scheduler (fast; no moto).

The fake store moves a status only as orders.domain.TRANSITIONS allows, as the repository's conditional
UpdateItem does (tests/moto/test_orders_repository.py holds the two to each other on moto);
tests/moto/test_orders_api.py drives the same routes through the real handlers and tables.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders import service
from orders.domain import OrderStatus
from orders.models import Order, OrderRecord
from tests.support.fakes import FakeDeliveryScheduler, FakeOrdersStore, ThrottledError

USER, OTHER = "alice", "bob"


@pytest.fixture
def store() -> FakeOrdersStore:
    return FakeOrdersStore()


@pytest.fixture
def scheduler(store: FakeOrdersStore) -> FakeDeliveryScheduler:
    return FakeDeliveryScheduler(store)


def create(store: FakeOrdersStore, bill: str = "19.99", user: str = USER) -> Order:
    return service.create_order(store, user, Decimal(bill), "c-create")


def stored(store: FakeOrdersStore, order: Order) -> OrderRecord:
    record = store.get(order.userId, order.id)
    assert record is not None
    return record


def put_status(store: FakeOrdersStore, order: Order, status: OrderStatus) -> None:
    """As if the order had got there by the events the test does not replay."""
    record = stored(store, order)
    store.records[(record.userId, record.id)] = record.model_copy(update={"status": status})


def payment(
    store: FakeOrdersStore, scheduler: FakeDeliveryScheduler, order: Order, status: str, correlation_id: str = "c-pay"
) -> None:
    service.apply_payment_result(
        service.OrdersDeps(store, scheduler),
        user_id=order.userId,
        order_id=order.id,
        payment_status=status,
        correlation_id=correlation_id,
    )


# ------------------------------------------------------------------ create


def test_create_stores_a_created_order_with_its_exact_decimal_bill(store):
    order = create(store, "0.07")
    assert order.status == OrderStatus.CREATED
    assert order.bill == Decimal("0.07") and type(order.bill) is Decimal
    assert order.userId == USER
    assert order.createdAt == order.updatedAt and order.createdAt.endswith("Z")
    assert type(order) is Order  # the answer carries no storage-only field
    record = stored(store, order)
    assert record.public() == order
    assert record.correlationId == "c-create"
    assert type(record.bill) is Decimal


def test_each_create_is_a_new_order_with_a_later_id(store):
    first, second = create(store), create(store)
    assert first.id < second.id
    assert len(store.records) == 2


def test_a_create_repeated_with_its_reserved_identity_makes_one_order_and_answers_it(store):
    identity = {"orderId": "01JD0000000000000000000007", "createdAt": "2026-01-01T00:00:00.000Z"}
    first = service.create_order(store, USER, Decimal("5"), "c1", identity)
    again = service.create_order(store, USER, Decimal("5"), "c2", dict(identity))
    assert first == again
    assert first.id == identity["orderId"] and first.createdAt == identity["createdAt"]
    assert list(store.records) == [(USER, identity["orderId"])]
    assert stored(store, first).correlationId == "c1"  # never overwritten


# ------------------------------------------------------------------ get and list


def test_get_returns_the_users_own_order(store):
    order = create(store)
    assert service.get_order(store, USER, order.id) == order


@pytest.mark.parametrize("who", ["someone else's", "unknown"])
def test_get_someone_elses_or_an_unknown_order_is_not_found(store, who):
    theirs = create(store, user=OTHER)
    order_id = theirs.id if who == "someone else's" else "01JD0000000000000000000000"
    with pytest.raises(service.OrderNotFoundError):
        service.get_order(store, USER, order_id)


def test_list_is_the_users_own_orders_newest_first_in_pages(store):
    mine = [create(store, str(n)) for n in range(1, 6)]
    create(store, user=OTHER)
    page1, token1 = service.list_orders(store, USER, 2, None)
    page2, token2 = service.list_orders(store, USER, 2, token1)
    page3, token3 = service.list_orders(store, USER, 2, token2)
    assert [o.id for o in page1 + page2 + page3] == [o.id for o in reversed(mine)]
    assert token1 and token2 and token3 is None
    assert all(type(o) is Order and type(o.bill) is Decimal for o in page1 + page2 + page3)
    assert service.list_orders(store, "carol", 20, None) == ([], None)


# ------------------------------------------------------------------ cancel


@pytest.mark.parametrize("status", [OrderStatus.CREATED, OrderStatus.CONFIRMED])
def test_cancel_a_created_or_confirmed_order(store, status):
    order = create(store)
    put_status(store, order, status)
    cancelled = service.cancel_order(store, USER, order.id, "c-cancel")
    assert cancelled.status == OrderStatus.CANCELLED
    assert cancelled.bill == order.bill and cancelled.createdAt == order.createdAt
    assert stored(store, order).status == OrderStatus.CANCELLED
    assert stored(store, order).correlationId == "c-cancel"  # the outbox's event carries it


def test_cancelling_twice_is_a_no_op_that_answers_the_cancelled_order(store):
    order = create(store)
    first = service.cancel_order(store, USER, order.id, "c1")
    again = service.cancel_order(store, USER, order.id, "c2")
    assert again == first
    assert stored(store, order).correlationId == "c1"  # nothing written the second time


@pytest.mark.parametrize("status", [OrderStatus.DECLINED, OrderStatus.DELIVERED])
def test_cancelling_a_declined_or_delivered_order_conflicts_and_changes_nothing(store, status):
    order = create(store)
    put_status(store, order, status)
    before = stored(store, order)
    with pytest.raises(service.OrderConflictError) as conflict:
        service.cancel_order(store, USER, order.id, "c-cancel")
    assert conflict.value.order.status == status
    assert type(conflict.value.order) is Order
    assert stored(store, order) == before


@pytest.mark.parametrize("who", ["someone else's", "unknown"])
def test_cancelling_someone_elses_or_an_unknown_order_is_not_found(store, who):
    theirs = create(store, user=OTHER)
    order_id = theirs.id if who == "someone else's" else "01JD0000000000000000000000"
    with pytest.raises(service.OrderNotFoundError):
        service.cancel_order(store, USER, order_id, "c")
    assert stored(store, theirs).status == OrderStatus.CREATED


# ------------------------------------------------------------------ payment results and delivery


def test_a_paid_payment_confirms_the_order_and_schedules_its_delivery(store, scheduler):
    order = create(store)
    payment(store, scheduler, order, "paid", "c-pay")
    assert stored(store, order).status == OrderStatus.CONFIRMED
    assert scheduler.calls == [(USER, order.id, "c-pay")]
    scheduler.run_all()
    assert stored(store, order).status == OrderStatus.DELIVERED


def test_a_declined_payment_declines_the_order_and_schedules_nothing(store, scheduler):
    order = create(store)
    payment(store, scheduler, order, "declined")
    assert stored(store, order).status == OrderStatus.DECLINED
    assert scheduler.calls == []


@pytest.mark.parametrize(("second", "starts"), [("paid", 2), ("declined", 1)])
def test_a_confirmed_order_stays_confirmed_with_one_delivery_whatever_result_comes_next(
    store, scheduler, second, starts
):
    order = create(store)
    payment(store, scheduler, order, "paid")
    payment(store, scheduler, order, second)  # a duplicate, or a late contradicting message
    assert stored(store, order).status == OrderStatus.CONFIRMED
    # A duplicate paid message starts the delivery again (in case its first start failed): by its name,
    # the execution exists once.
    assert len(scheduler.calls) == starts
    assert list(scheduler.executions) == [order.id]


def test_a_failed_delivery_start_fails_the_message_and_its_redelivery_schedules_it(store, scheduler):
    order = create(store)
    scheduler.fail_next = 1
    with pytest.raises(ThrottledError):
        payment(store, scheduler, order, "paid")
    assert stored(store, order).status == OrderStatus.CONFIRMED
    assert scheduler.executions == {}
    payment(store, scheduler, order, "paid")  # SQS redelivers it
    assert list(scheduler.executions) == [order.id]


def test_a_duplicate_declined_message_changes_nothing(store, scheduler):
    order = create(store)
    payment(store, scheduler, order, "declined", "c1")
    payment(store, scheduler, order, "declined", "c2")
    assert stored(store, order).status == OrderStatus.DECLINED
    assert stored(store, order).correlationId == "c1"
    assert scheduler.calls == []


@pytest.mark.parametrize("status", [OrderStatus.CANCELLED, OrderStatus.DECLINED, OrderStatus.DELIVERED])
def test_a_paid_message_for_an_order_no_longer_created_leaves_it_and_schedules_nothing(store, scheduler, status):
    order = create(store)
    put_status(store, order, status)
    payment(store, scheduler, order, "paid")
    assert stored(store, order).status == status
    assert scheduler.calls == []


@pytest.mark.parametrize("status", ["pending", "processing", "refunded", ""])
def test_a_payment_status_that_is_not_a_result_is_ignored(store, scheduler, status):
    order = create(store)
    payment(store, scheduler, order, status)
    assert stored(store, order).status == OrderStatus.CREATED
    assert scheduler.calls == []


def test_a_payment_result_for_a_missing_order_fails_the_message(store, scheduler):
    ghost = Order(id="01JD0000000000000000000000", userId=USER, bill=1, status="created", createdAt="", updatedAt="")
    with pytest.raises(service.OrderNotFoundError):
        payment(store, scheduler, ghost, "paid")
    assert store.records == {} and scheduler.calls == []


def test_an_order_cancelled_before_its_delivery_runs_is_never_delivered(store, scheduler):
    order = create(store)
    payment(store, scheduler, order, "paid")
    service.cancel_order(store, USER, order.id, "c-cancel")
    scheduler.run_all()
    assert stored(store, order).status == OrderStatus.CANCELLED


def test_a_delivered_order_cannot_be_cancelled(store, scheduler):
    order = create(store)
    payment(store, scheduler, order, "paid")
    scheduler.run_all()
    with pytest.raises(service.OrderConflictError) as conflict:
        service.cancel_order(store, USER, order.id, "c-cancel")
    assert conflict.value.order.status == OrderStatus.DELIVERED


# ------------------------------------------------------------------ injected clock and ids


def test_changes_are_stamped_by_the_clock_and_ids_drawn_from_the_source_the_caller_passes(store, scheduler):
    identity = service.new_identity(clock=lambda: "2030-01-01T00:00:00.000Z", ids=lambda: "01ORDERFROMTHESOURCE00000")
    order = service.create_order(store, USER, Decimal("5"), "c-create", identity)
    assert (order.id, order.createdAt) == ("01ORDERFROMTHESOURCE00000", "2030-01-01T00:00:00.000Z")
    deps = service.OrdersDeps(store, scheduler, clock=lambda: "2030-01-01T00:00:05.000Z")
    service.apply_payment_result(deps, user_id=USER, order_id=order.id, payment_status="paid", correlation_id="c")
    assert stored(store, order).updatedAt == "2030-01-01T00:00:05.000Z"
    cancelled = service.cancel_order(store, USER, order.id, "c-cancel", clock=lambda: "2030-01-01T00:00:09.000Z")
    assert cancelled.updatedAt == "2030-01-01T00:00:09.000Z"
