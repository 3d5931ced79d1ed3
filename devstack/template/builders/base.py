"""What the builders share: the model under construction, and how a builder reports what is not emulated."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.template.model import (
    ApiModel,
    ApiRoute,
    FunctionModel,
    QueueModel,
    SecretModel,
    StateMachineModel,
    SubscriptionModel,
    TableModel,
    TopicModel,
)
from devstack.template.resolver import Resolver


@dataclass
class PendingRoute:
    """A route of an API's OpenAPI body, before its integration URI is matched to a function."""

    route: ApiRoute
    integration_uri: str


@dataclass
class Build:
    """What the builders fill in, one resource at a time, before the links between resources are made."""

    r: Resolver
    root: Path
    sam_layers: frozenset[str] = frozenset()
    unsupported: list[str] = field(default_factory=list)
    functions: dict[str, FunctionModel] = field(default_factory=dict)
    tables: dict[str, TableModel] = field(default_factory=dict)
    queues: dict[str, QueueModel] = field(default_factory=dict)
    topics: dict[str, TopicModel] = field(default_factory=dict)
    subscriptions: dict[str, SubscriptionModel] = field(default_factory=dict)
    secrets: dict[str, SecretModel] = field(default_factory=dict)
    state_machines: dict[str, StateMachineModel] = field(default_factory=dict)
    apis: dict[str, ApiModel] = field(default_factory=dict)
    layers: dict[str, Path] = field(default_factory=dict)
    routes: list[PendingRoute] = field(default_factory=list)
    mappings: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    schedules: list[tuple[str, str, str, list[str]]] = field(default_factory=list)  # id, expression, state, targets
    stages: dict[str, str] = field(default_factory=dict)  # API logical id -> stage name
    traced: list[str] = field(default_factory=list)
    architectures: dict[str, list[str]] = field(default_factory=dict)

    def queue_by_arn(self, arn: str) -> QueueModel | None:
        return next((q for q in self.queues.values() if q.arn == arn), None)

    def report(self, where: str, props: Mapping[str, Any], features: Iterable[str], prefix: str = "") -> None:
        """Name each of ``features`` that ``props`` sets: the local stack does not emulate it."""
        self.unsupported.extend(f"{where}: {prefix}{f}" for f in features if f in props)


SAM_LAYER_HASH_DIGITS = 10  # the hex digits SAM appends to a LayerVersion's logical id


def group_by_feature(notes: list[str]) -> dict[str, list[str]]:
    """ "OrdersTable: PointInTimeRecovery" and "PaymentsTable: PointInTimeRecovery" become one line."""
    grouped: dict[str, list[str]] = {}
    for note in notes:
        name, sep, feature = note.partition(": ")
        if not sep or " " in name.split(" (")[0]:
            grouped.setdefault(note, [])
            continue
        resource = name.split(" (")[0]
        kind = name[len(resource) :].strip()
        grouped.setdefault(f"{feature} {kind}".strip(), []).append(resource)
    return grouped
