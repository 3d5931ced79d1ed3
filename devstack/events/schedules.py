"""Schedule and ScheduleV2 event sources: each function invoked every period with EventBridge's Scheduled
Event, as AWS does, for as long as the stack runs. ``RECONCILE_INTERVAL_SECONDS`` (the engine's settings)
overrides the period of every schedule (the template's one is the payments reconciler's), as
``DELIVERY_DELAY_SECONDS`` overrides DeliveryDelaySeconds."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Mapping
from typing import Any

from devstack.events.pollers import Wiring
from devstack.template import ACCOUNT_ID, REGION, FunctionModel, StackModel
from devstack.template.model import ScheduleEventSource

PERIOD_SETTING = "RECONCILE_INTERVAL_SECONDS"


def scheduled_event(source: ScheduleEventSource) -> dict[str, Any]:
    """What EventBridge sends a rule's target (Scheduler sends the same shape to a Lambda target)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{source.name}"],
        "detail": {},
    }


class SchedulePoller(threading.Thread):
    """Invokes ``fn`` every ``period`` seconds (first after one period, as a new rule does), until the stack stops."""

    def __init__(self, fn: FunctionModel, source: ScheduleEventSource, period: float, wiring: Wiring) -> None:
        super().__init__(daemon=True, name=f"schedule-{source.name}")
        self.fn, self.source, self.period = fn, source, period
        self.invoke, self.record, self.stop = wiring.invoke, wiring.record, wiring.stop
        self.trigger = f"schedule {source.name} every {period:g}s"
        self.runs = 0

    def run(self) -> None:
        while not self.stop.wait(self.period):
            result = self.invoke(self.fn.logical_id, scheduled_event(self.source))
            self.runs += 1
            outcome = f"ok {result.result}" if result.ok else f"error {result.error_message}"
            self.record(self.fn.logical_id, self.trigger, result.duration_ms, outcome, "")


def schedule_pollers(model: StackModel, wiring: Wiring, settings: Mapping[str, str]) -> list[SchedulePoller]:
    """One poller per enabled schedule of the template, at its rate or at ``RECONCILE_INTERVAL_SECONDS``."""
    override = settings.get(PERIOD_SETTING)
    return [
        SchedulePoller(fn, source, float(override) if override else source.period_seconds, wiring)
        for fn in model.functions.values()
        for source in fn.schedule_events
        if source.enabled
    ]
