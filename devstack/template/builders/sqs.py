"""AWS::SQS::Queue and its redrive policy."""

from __future__ import annotations

import json
from typing import Any

from devstack.template.builders.base import Build
from devstack.template.model import (
    QueueModel,
    RedrivePolicy,
)
from devstack.template.resolver import as_bool

_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)


def _redrive_policy(props: dict[str, Any]) -> RedrivePolicy | None:
    rp = props.get("RedrivePolicy")
    if not rp:
        return None
    if isinstance(rp, str):
        rp = json.loads(rp)
    dlq_arn = str(rp["deadLetterTargetArn"])
    count = int(str(rp["maxReceiveCount"]))
    return RedrivePolicy(dead_letter_queue=dlq_arn, dead_letter_arn=dlq_arn, max_receive_count=count)


def _attribute(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def build_queue(b: Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    attrs = {k: _attribute(props[k]) for k in _QUEUE_ATTRIBUTES if k in props}
    if as_bool(props.get("SqsManagedSseEnabled")):
        b.unsupported.append(f"{lid}: SqsManagedSseEnabled (no encryption locally)")
    if "KmsMasterKeyId" in props:
        b.unsupported.append(f"{lid}: KmsMasterKeyId (no encryption locally)")
    b.report(lid, props, ("RedriveAllowPolicy",))
    b.queues[lid] = QueueModel(
        logical_id=lid,
        name=b.r.physical_name(lid),
        arn=b.r.arn(lid),
        url=str(b.r.ref(lid)),
        attributes=attrs,
        redrive=_redrive_policy(props),
    )
