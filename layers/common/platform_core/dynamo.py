"""The low-level DynamoDB client under each service's repository (each owns its item <-> record mapping).

Every status change goes through `transition`: one UpdateItem whose condition is
"the item exists and its status is one of the allowed sources". Races and duplicate
messages are settled by DynamoDB, and a failed condition hands back the current item
(ReturnValuesOnConditionCheckFailure) so callers never read before they write.

Each change also writes its token. When the SDK retries a write whose answer was lost
(a read timeout after DynamoDB applied it), the retry's condition fails against the
write itself: the item handed back is at the target status with the same token, and
that is the change made, not a refusal.
"""

import base64
import binascii
import json
import uuid
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


# The attribute that names the last change made to an item (Transition.token).
TOKEN_ATTRIBUTE = "transitionToken"  # noqa: S105 - an attribute name, not a secret


@dataclass(frozen=True)
class Transition:
    """A conditional status change: to `to_status` only from one of `allowed_from` (and only while each
    `expected` attribute has that value), writing `fields` with it and removing the `remove` attributes.

    `token` names this change; a caller whose own earlier attempt may have applied it (a retried request)
    passes the same token again, anything else gets a fresh one."""

    to_status: str
    allowed_from: Collection[str]
    fields: Mapping[str, Any] = field(default_factory=dict)
    expected: Mapping[str, Any] = field(default_factory=dict)
    remove: Collection[str] = ()
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    def made_by_me(self, item: Mapping[str, Any]) -> bool:
        """The item is what this very change left (its condition failed against itself)."""
        return item.get("status") == self.to_status and item.get(TOKEN_ATTRIBUTE) == self.token


class TransitionRejectedError(Exception):
    """A refused status change (the condition failed): `current` is the item as it is now (the table's item,
    or the record a repository made of it), or None when there is none. The one error for that concept."""

    def __init__(self, current: Any) -> None:
        super().__init__("transition rejected")
        self.current = current


class InvalidPageTokenError(ValueError):
    pass


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class Table:
    """One DynamoDB table keyed by (userId, <sort key>): every item is addressed through its owner."""

    def __init__(self, client: Any, table_name: str, sort_key: str) -> None:
        self.client = client
        self.name = table_name
        self.sort_key = sort_key

    def key(self, user_id: str, item_id: str) -> dict[str, Any]:
        return {"userId": {"S": user_id}, self.sort_key: {"S": item_id}}

    def put_new(self, item: Mapping[str, Any]) -> bool:
        """Insert unless the key exists; False when it did (a duplicate create is not an error)."""
        try:
            self.client.put_item(
                TableName=self.name,
                Item=serialize(item),
                ConditionExpression="attribute_not_exists(userId)",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, user_id: str, item_id: str, *, consistent: bool = False) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.name, Key=self.key(user_id, item_id), ConsistentRead=consistent)
        item = response.get("Item")
        return deserialize(item) if item else None

    def query_page(self, user_id: str, limit: int, next_token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first (sort keys are ULIDs); a page costs the same whatever the user's total."""
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "userId = :u",
            "ExpressionAttributeValues": {":u": {"S": user_id}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if next_token:
            kwargs["ExclusiveStartKey"] = self.key(user_id, decode_page_token(next_token, self.sort_key))
        response = self.client.query(**kwargs)
        items = [deserialize(i) for i in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        token = encode_page_token(last[self.sort_key]["S"]) if last else None
        return items, token

    def transition(self, user_id: str, item_id: str, change: Transition) -> dict[str, Any]:
        """Make the change if the item's status allows it; returns the new item."""
        sources = sorted(change.allowed_from)
        if not sources:
            raise ValueError(f"no status may move to {change.to_status}")
        values: dict[str, Any] = {":to": change.to_status, **{f":from{i}": s for i, s in enumerate(sources)}}
        names = {"#status": "status", "#token": TOKEN_ATTRIBUTE}
        values[":token"] = change.token
        assignments = ["#status = :to", "#token = :token"]
        for i, (name, value) in enumerate(change.fields.items()):
            names[f"#f{i}"] = name
            values[f":f{i}"] = value
            assignments.append(f"#f{i} = :f{i}")
        removals = []
        for i, name in enumerate(sorted(change.remove)):
            names[f"#r{i}"] = name
            removals.append(f"#r{i}")
        update = "SET " + ", ".join(assignments) + (" REMOVE " + ", ".join(removals) if removals else "")
        sources_list = ", ".join(f":from{i}" for i in range(len(sources)))
        condition = f"attribute_exists(userId) AND #status IN ({sources_list})"
        for i, (name, value) in enumerate(change.expected.items()):
            names[f"#e{i}"] = name
            values[f":e{i}"] = value
            condition += f" AND #e{i} = :e{i}"
        try:
            response = self.client.update_item(
                TableName=self.name,
                Key=self.key(user_id, item_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            old_item = getattr(exc, "response", {}).get("Item")
            old = deserialize(old_item) if old_item else None
            if old is not None and change.made_by_me(old):
                return old
            raise TransitionRejectedError(old) from exc
        return deserialize(response["Attributes"])

    def annotate(self, user_id: str, item_id: str, fields: Mapping[str, Any], status: str) -> bool:
        """Write `fields` (no status change) only while the item's status is `status`; False when it is not."""
        names = {"#status": "status", **{f"#f{i}": name for i, name in enumerate(fields)}}
        values = {":status": status, **{f":f{i}": value for i, value in enumerate(fields.values())}}
        try:
            self.client.update_item(
                TableName=self.name,
                Key=self.key(user_id, item_id),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                ConditionExpression="#status = :status",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def query_index(self, index: str, key: Mapping[str, str], below: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        """Every item of index `index` whose partition key is `key` and whose sort key sorts below `below`
        (one name: value each), oldest first, page by page."""
        ((pk, pk_value),) = key.items()
        ((sk, sk_value),) = below.items()
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "IndexName": index,
            "KeyConditionExpression": "#pk = :pk AND #sk < :sk",
            "ExpressionAttributeNames": {"#pk": pk, "#sk": sk},
            "ExpressionAttributeValues": serialize({":pk": pk_value, ":sk": sk_value}),
        }
        while True:
            response = self.client.query(**kwargs)
            yield from (deserialize(i) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def encode_page_token(last_sort_key: str) -> str:
    raw = json.dumps({"k": last_sort_key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, sort_key: str) -> str:
    """The token is opaque to clients; only a sort key of the caller's own partition can come out."""
    if len(token) > 512:
        raise InvalidPageTokenError("nextToken is too long")
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise InvalidPageTokenError("nextToken is not a token this API issued") from exc
    value = data.get("k") if isinstance(data, dict) else None
    if not isinstance(value, str) or not 0 < len(value) <= 128:
        raise InvalidPageTokenError(f"nextToken does not name a {sort_key}")
    return value
