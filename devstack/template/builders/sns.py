"""AWS::SNS: topics and subscriptions (with their filter policies)."""

from __future__ import annotations

import json
from typing import Any

from devstack.template.builders.base import Build
from devstack.template.model import (
    SubscriptionModel,
    TopicModel,
)
from devstack.template.resolver import as_bool


def build_topic(b: Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    attrs: dict[str, str] = {}
    if "DisplayName" in props:
        attrs["DisplayName"] = str(props["DisplayName"])
    for flag in ("FifoTopic", "ContentBasedDeduplication"):
        if as_bool(props.get(flag)):
            attrs[flag] = "true"
    if "KmsMasterKeyId" in props:
        b.unsupported.append(f"{lid}: KmsMasterKeyId (no encryption locally)")
    b.topics[lid] = TopicModel(lid, b.r.physical_name(lid), b.r.arn(lid), attrs)
    for i, s in enumerate(props.get("Subscription") or []):
        sid = f"{lid}Subscription{i}"
        b.subscriptions[sid] = SubscriptionModel(
            sid, b.r.arn(lid), str(s["Protocol"]), str(s["Endpoint"]), None, None, False
        )


def build_subscription(b: Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    fp = props.get("FilterPolicy")
    b.subscriptions[lid] = SubscriptionModel(
        logical_id=lid,
        topic_arn=str(props["TopicArn"]),
        protocol=str(props["Protocol"]),
        endpoint=str(props.get("Endpoint", "")),
        filter_policy=json.loads(fp) if isinstance(fp, str) else fp,
        filter_policy_scope=props.get("FilterPolicyScope"),
        raw_message_delivery=as_bool(props.get("RawMessageDelivery", False)),
        redrive_policy=props.get("RedrivePolicy") or None,
    )
    if props.get("RedrivePolicy"):
        b.unsupported.append(f"{lid}: subscription RedrivePolicy (set, but SNS never fails a delivery locally)")
