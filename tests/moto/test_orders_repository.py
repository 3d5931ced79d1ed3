"""OrdersRepository's conditional writes on moto, held to the in-memory store the service tests use."""

from __future__ import annotations

from decimal import Decimal

from orders.domain import TRANSITIONS, OrderStatus
from orders.models import OrderRecord
from orders.repository import OrdersRepository
from platform_core.dynamo import TransitionRejectedError
from tests.support.fakes import FakeOrdersStore
from tests.support.lambda_env import AwsHarness

USER = "alice"


def test_the_fake_store_moves_exactly_as_the_repository_on_dynamodb(aws: AwsHarness):
    """Every (status, target) pair, through OrdersRepository's conditional UpdateItem on moto and through
    the fake: the same outcome, and the same record back (moved, or the current one when refused)."""
    real = OrdersRepository(aws.client("dynamodb"), aws.physical_id("OrdersTable"))
    fake = FakeOrdersStore()
    allowed = set()
    for n, (source, target) in enumerate((s, t) for s in OrderStatus for t in TRANSITIONS):
        record = OrderRecord(
            id=f"01JD00000000000000000000{n:02d}",
            userId=USER,
            bill=Decimal("12.34"),
            status=source,
            createdAt="2026-01-01T00:00:00.000Z",
            updatedAt="2026-01-01T00:00:00.000Z",
            correlationId="c0",
        )
        outcomes = []
        for repo in (real, fake):
            assert repo.add(record) and not repo.add(record)
            assert repo.get(USER, record.id) == record  # the item <-> record mapping round-trips
            try:
                outcomes.append(repo.move(USER, record.id, target, now="2026-01-01T00:00:01.000Z", correlation_id="c1"))
            except TransitionRejectedError as rejected:
                outcomes.append(rejected.current)
        assert outcomes[0] == outcomes[1], (source, target)
        assert type(outcomes[0].bill) is Decimal
        if outcomes[0].status == target != source:
            allowed.add((source, target))
    assert allowed == {(s, t) for t, sources in TRANSITIONS.items() for s in sources}
    assert real.get(USER, "01JD0000000000000000000099") is None
