"""The template's resources created in the local AWS services: tables with streams, queues with redrive
policies, topics with subscriptions and filter policies, secrets, state machines; and moving DLQ messages back."""

from __future__ import annotations

import json
import secrets
from typing import Any

from devstack.aws import make_client
from devstack.template import StackModel


def create_resources(model: StackModel, endpoint: str, jwt_secret: str) -> dict[str, str]:
    """Create the template's tables, queues, topics, subscriptions, secrets and state machines in moto.

    Returns physical overrides (``"Logical"``/``"Logical.Attr"`` -> real id) for the model's second pass.
    The state machine is created by :func:`create_state_machines` once the model is final.
    """
    overrides = {**_create_tables(model, endpoint), **_create_queues(model, endpoint)}
    _create_topics(model, endpoint)
    overrides.update(_create_secrets(model, endpoint, jwt_secret))
    return overrides


def _create_tables(model: StackModel, endpoint: str) -> dict[str, str]:
    """The tables (indexes, stream, TTL); returns each stream's ARN as ``"Logical.StreamArn"``."""
    overrides: dict[str, str] = {}
    ddb = make_client("dynamodb", endpoint, internal=True)
    for t in model.tables.values():
        kwargs: dict[str, Any] = {
            "TableName": t.name,
            "KeySchema": t.key_schema,
            "AttributeDefinitions": t.attribute_definitions,
            "BillingMode": t.billing_mode,
        }
        if t.provisioned_throughput:
            kwargs["ProvisionedThroughput"] = t.provisioned_throughput
        if t.global_secondary_indexes:
            kwargs["GlobalSecondaryIndexes"] = t.global_secondary_indexes
        if t.local_secondary_indexes:
            kwargs["LocalSecondaryIndexes"] = t.local_secondary_indexes
        if t.stream_view_type:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": t.stream_view_type}
        desc = ddb.create_table(**kwargs)["TableDescription"]
        if desc.get("LatestStreamArn"):
            overrides[f"{t.logical_id}.StreamArn"] = desc["LatestStreamArn"]
        if t.ttl_attribute:
            ddb.update_time_to_live(
                TableName=t.name, TimeToLiveSpecification={"Enabled": True, "AttributeName": t.ttl_attribute}
            )
    return overrides


def _create_queues(model: StackModel, endpoint: str) -> dict[str, str]:
    """The queues with their redrive policies; returns each queue's URL under its logical id."""
    overrides: dict[str, str] = {}
    sqs = make_client("sqs", endpoint, internal=True)
    # Dead-letter queues first, so redrive policies can point at them.
    ordered = sorted(model.queues.values(), key=lambda q: q.redrive is not None)
    for q in ordered:
        attrs = dict(q.attributes)
        if q.redrive:
            attrs["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": q.redrive.dead_letter_arn, "maxReceiveCount": str(q.redrive.max_receive_count)}
            )
        url = sqs.create_queue(QueueName=q.name, Attributes=attrs)["QueueUrl"]
        overrides[q.logical_id] = url
    return overrides


def _create_topics(model: StackModel, endpoint: str) -> None:
    """The topics and their subscriptions (filter policy, raw delivery, redrive)."""
    sns = make_client("sns", endpoint, internal=True)
    for tp in model.topics.values():
        sns.create_topic(Name=tp.name, Attributes=tp.attributes)
    for s in model.subscriptions.values():
        attrs = {}
        if s.filter_policy is not None:
            attrs["FilterPolicy"] = json.dumps(s.filter_policy)
            if s.filter_policy_scope:
                attrs["FilterPolicyScope"] = s.filter_policy_scope
        if s.raw_message_delivery:
            attrs["RawMessageDelivery"] = "true"
        if s.redrive_policy:
            attrs["RedrivePolicy"] = json.dumps(s.redrive_policy)
        sns.subscribe(
            TopicArn=s.topic_arn, Protocol=s.protocol, Endpoint=s.endpoint, Attributes=attrs, ReturnSubscriptionArn=True
        )


def _create_secrets(model: StackModel, endpoint: str, jwt_secret: str) -> dict[str, str]:
    """The secrets; returns each secret's ARN under its logical id."""
    overrides: dict[str, str] = {}
    sm = make_client("secretsmanager", endpoint, internal=True)
    # The token signing key is the one `make token` signs with; any other generated secret is fresh per
    # stack, as CloudFormation makes it (never the signing key's value).
    signing_keys = {f.env.get("JWT_SECRET_ARN") for f in model.functions.values()} - {None, ""}
    for sec in model.secrets.values():
        if sec.secret_string is not None and not sec.generate:
            value = sec.secret_string
        else:
            value = jwt_secret if sec.arn in signing_keys else secrets.token_hex(32)
        arn = sm.create_secret(Name=sec.name, SecretString=value, Description=sec.description)["ARN"]
        overrides[sec.logical_id] = arn
    return overrides


def create_state_machines(model: StackModel, endpoint: str) -> None:
    sfn = make_client("stepfunctions", endpoint, internal=True)
    for m in model.state_machines.values():
        sfn.create_state_machine(
            name=m.name,
            definition=json.dumps(m.definition),
            roleArn=f"arn:aws:iam::123456789012:role/{m.name}-role",
            type=m.type,
        )


def redrive_messages(sqs: Any, dlq_url: str, source_url: str) -> int:
    """Move every message of ``dlq_url`` back to ``source_url`` (body and attributes kept)."""
    moved = 0
    empty_rounds = 0
    while empty_rounds < 2:
        resp = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            VisibilityTimeout=30,
        )
        msgs = resp.get("Messages") or []
        if not msgs:
            empty_rounds += 1
            continue
        empty_rounds = 0
        for m in msgs:
            kwargs: dict[str, Any] = {"QueueUrl": source_url, "MessageBody": m["Body"]}
            if m.get("MessageAttributes"):
                kwargs["MessageAttributes"] = m["MessageAttributes"]
            sqs.send_message(**kwargs)
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=m["ReceiptHandle"])
            moved += 1
    return moved
