"""Schedule and ScheduleV2 events: the EventBridge rule or Scheduler schedule SAM makes of them, linked to
the function it targets once every resource is built. Only rate() expressions are run (cron is reported)."""

from __future__ import annotations

import re
from typing import Any

from devstack.template.builders.base import Build
from devstack.template.model import ScheduleEventSource, TemplateError

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float | None:
    """The period of a rate() expression, in seconds; None for any other (cron, at)."""
    match = _RATE.match(expression.strip())
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")] if match else None


def build_rule(b: Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    """AWS::Events::Rule (a Schedule event): its targets, each a function, invoked at its rate."""
    if "ScheduleExpression" not in props:
        b.unsupported.append(f"{lid} (AWS::Events::Rule): event pattern rules (only schedules are run)")
        return
    targets = [str(t.get("Arn")) for t in props.get("Targets") or []]
    b.schedules.append((lid, str(props["ScheduleExpression"]), str(props.get("State", "ENABLED")), targets))


def build_schedule(b: Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    """AWS::Scheduler::Schedule (a ScheduleV2 event): its one target, invoked at its rate."""
    target = str((props.get("Target") or {}).get("Arn"))
    b.report(lid, props, ("FlexibleTimeWindow", "StartDate", "EndDate"), prefix="schedule ")
    b.schedules.append((lid, str(props.get("ScheduleExpression")), str(props.get("State", "ENABLED")), [target]))


def link_schedules(b: Build) -> None:
    for lid, expression, state, targets in b.schedules:
        period = rate_seconds(expression)
        if period is None:
            b.unsupported.append(f"{lid}: ScheduleExpression {expression} (only rate() schedules are run)")
            continue
        for arn in targets:
            fn = next((f for f in b.functions.values() if f.arn == arn), None)
            if fn is None:
                raise TemplateError(f"{lid}: schedule target {arn} is no function of the template")
            fn.schedule_events.append(ScheduleEventSource(lid, expression, period, enabled=state == "ENABLED"))
