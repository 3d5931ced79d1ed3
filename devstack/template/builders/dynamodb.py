"""AWS::DynamoDB::Table."""

from __future__ import annotations

from typing import Any

from devstack.template.builders.base import Build
from devstack.template.model import (
    TableModel,
)
from devstack.template.resolver import as_bool


def build_table(b: Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    ttl = props.get("TimeToLiveSpecification") or {}
    pt = props.get("ProvisionedThroughput")
    b.tables[lid] = TableModel(
        logical_id=lid,
        name=b.r.physical_name(lid),
        arn=b.r.arn(lid),
        key_schema=props.get("KeySchema") or [],
        attribute_definitions=props.get("AttributeDefinitions") or [],
        billing_mode=str(props.get("BillingMode", "PROVISIONED" if pt else "PAY_PER_REQUEST")),
        stream_view_type=(props.get("StreamSpecification") or {}).get("StreamViewType"),
        ttl_attribute=ttl.get("AttributeName") if as_bool(ttl.get("Enabled", False)) else None,
        global_secondary_indexes=props.get("GlobalSecondaryIndexes") or [],
        local_secondary_indexes=props.get("LocalSecondaryIndexes") or [],
        provisioned_throughput={k: int(v) for k, v in pt.items()} if pt else None,
    )
    if as_bool((props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")):
        b.unsupported.append(f"{lid}: PointInTimeRecovery")
    if as_bool(props.get("DeletionProtectionEnabled", False)):
        b.unsupported.append(f"{lid}: DeletionProtectionEnabled")
    if as_bool((props.get("SSESpecification") or {}).get("SSEEnabled")):
        b.unsupported.append(f"{lid}: SSESpecification (no encryption locally)")
    b.report(
        lid, props, ("KinesisStreamSpecification", "ContributorInsightsSpecification", "ImportSourceSpecification")
    )
