"""PaymentsTable: partition key userId, sort key orderId (one payment per order).

The repository owns the mapping between table items and PaymentRecord; the service sees only
records. Every status change is one conditional UpdateItem (see payments.domain.sources).

The sparse index UnsettledPayments (template.yaml) holds exactly the payments in an unsettled status
(payments.domain.UNSETTLED): each move into one writes `unsettledShard`, each move out removes it, so the
reconciler finds them with a Query of a few keys, never a Scan.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from payments.domain import UNSETTLED, UNSETTLED_SHARDS, PaymentStatus, sources, unsettled_shard
from payments.models import CardSummary, PaymentRecord
from platform_core.clock import as_utc_iso
from platform_core.dynamo import Table, Transition, TransitionRejectedError

UNSETTLED_INDEX = "UnsettledPayments"
SHARD_ATTRIBUTE = "unsettledShard"


@dataclass(frozen=True)
class Move:
    """One conditional status change and what it records."""

    target: PaymentStatus
    now: str
    correlation_id: str
    claim_id: str | None = None  # the claim being settled: the payment must be processing under it
    claim: str | None = None  # a new claim (target processing)
    card: CardSummary | None = None
    decline_reason: str | None = None
    # Names this change, so a retry of it that finds it made counts as made (platform_core.dynamo.Transition);
    # None: a fresh one. The charger passes its claim: its own request's retries find their own writes.
    token: str | None = None

    def sources(self) -> frozenset[PaymentStatus]:
        return sources(self.target, leaving_claim=self.claim_id is not None)

    def fields(self) -> dict[str, Any]:
        """The attributes written besides the status (as stored: the card as a map)."""
        fields: dict[str, Any] = {"updatedAt": self.now, "correlationId": self.correlation_id}
        if self.claim is not None:
            fields |= {"claimId": self.claim, "claimedAt": self.now}
        if self.card is not None:
            fields["card"] = self.card.model_dump()
        if self.decline_reason is not None:
            fields["declineReason"] = self.decline_reason
        return fields


class PaymentsStore(Protocol):
    """What the service needs from storage (PaymentsRepository; an in-memory fake in the tests)."""

    def get(self, user_id: str, order_id: str, *, consistent: bool = False) -> PaymentRecord | None: ...

    def page(self, user_id: str, limit: int, next_token: str | None) -> tuple[list[PaymentRecord], str | None]: ...

    def add(self, record: PaymentRecord) -> bool: ...

    def move(self, user_id: str, order_id: str, change: Move) -> PaymentRecord:
        """Conditional status change; raises TransitionRejectedError with the current record (or None)."""
        ...

    def request_cancel(self, user_id: str, order_id: str) -> bool:
        """Mark a payment being charged as its order's cancel found it; False when it is no longer processing."""
        ...

    def unsettled(self, claimed_before: str) -> Iterator[PaymentRecord]:
        """Every payment in an unsettled status whose claim was made before `claimed_before`."""
        ...


def to_record(item: dict[str, Any]) -> PaymentRecord:
    card = item.get("card")
    return PaymentRecord(
        orderId=item["orderId"],
        userId=item["userId"],
        bill=item["bill"],
        status=item["status"],
        card=CardSummary(brand=card["brand"], last4=card["last4"]) if card else None,
        declineReason=item.get("declineReason"),
        createdAt=as_utc_iso(item["createdAt"]),
        updatedAt=as_utc_iso(item["updatedAt"]),
        correlationId=item.get("correlationId", ""),
        claimId=item.get("claimId"),
        claimedAt=item.get("claimedAt"),
        cancelRequested=bool(item.get("cancelRequested", False)),
    )


def to_item(record: PaymentRecord) -> dict[str, Any]:
    """The item as stored: None fields are left out, the bill stays a Decimal."""
    item = record.model_dump(exclude_none=True)
    item["status"] = record.status.value
    return item


class PaymentsRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self.table = Table(client, table_name, sort_key="orderId")

    def get(self, user_id: str, order_id: str, *, consistent: bool = False) -> PaymentRecord | None:
        item = self.table.get(user_id, order_id, consistent=consistent)
        return to_record(item) if item else None

    def page(self, user_id: str, limit: int, next_token: str | None) -> tuple[list[PaymentRecord], str | None]:
        items, token = self.table.query_page(user_id, limit, next_token)
        return [to_record(i) for i in items], token

    def add(self, record: PaymentRecord) -> bool:
        return self.table.put_new(to_item(record))

    def move(self, user_id: str, order_id: str, change: Move) -> PaymentRecord:
        try:
            unsettled = change.target in UNSETTLED
            transition = Transition(
                to_status=change.target.value,
                allowed_from=[s.value for s in change.sources()],
                fields=change.fields() | ({SHARD_ATTRIBUTE: unsettled_shard(order_id)} if unsettled else {}),
                expected={"claimId": change.claim_id} if change.claim_id is not None else {},
                remove=() if unsettled else (SHARD_ATTRIBUTE,),
                **({"token": change.token} if change.token is not None else {}),
            )
            item = self.table.transition(user_id, order_id, transition)
        except TransitionRejectedError as rejected:
            current = rejected.current
            raise TransitionRejectedError(to_record(current) if current else None) from rejected
        return to_record(item)

    def request_cancel(self, user_id: str, order_id: str) -> bool:
        return self.table.annotate(user_id, order_id, {"cancelRequested": True}, PaymentStatus.PROCESSING.value)

    def unsettled(self, claimed_before: str) -> Iterator[PaymentRecord]:
        for shard in range(UNSETTLED_SHARDS):
            items = self.table.query_index(
                UNSETTLED_INDEX, {SHARD_ATTRIBUTE: str(shard)}, {"claimedAt": claimed_before}
            )
            yield from (to_record(item) for item in items)
