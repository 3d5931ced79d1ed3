"""What tests, benchmarks and harnesses may look at in a running stack, beyond its API and its AWS services."""

from __future__ import annotations

import collections
import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from devstack.aws import make_client
from devstack.stepfunctions import WAIT_GATE

if TYPE_CHECKING:
    from devstack.stack import LocalStack


class StackInspection:
    """``LocalStack.inspect``: request counts, worker processes, holding Wait states, waiting until idle."""

    def __init__(self, stack: LocalStack) -> None:
        self._stack = stack

    def aws_requests(self) -> collections.Counter[tuple[str, str]]:
        """Requests to the local AWS services per (service, operation), the stack's own polling excluded."""
        assert self._stack.moto is not None and self._stack.moto.middleware is not None
        return self._stack.moto.middleware.counts()

    def reset_aws_requests(self) -> None:
        assert self._stack.moto is not None and self._stack.moto.middleware is not None
        self._stack.moto.middleware.reset()

    def hold_waits(self) -> AbstractContextManager[None]:
        """Within the block, no Wait state ends (a confirmed order stays undelivered); they end after it."""
        return WAIT_GATE.held()

    def worker_pids(self) -> list[int]:
        return [pid for p in self._stack.pools.values() for pid in p.pids()]

    def _idle_now(self, sfn: Any, sqs: Any) -> str:
        busy = [lid for lid, p in self._stack.pools.items() if p.in_flight]
        if self._stack.docker is not None and self._stack.docker.in_flight:
            busy.append(f"{self._stack.docker.in_flight} Docker invocations")
        if busy:
            return f"invocations in flight: {busy}"
        for qp in self._stack.sqs_pollers:
            attrs = sqs.get_queue_attributes(
                QueueUrl=qp.queue.url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            if any(int(v) for v in attrs.values()):
                return f"queue {qp.queue.logical_id} not empty: {attrs}"
        for m in self._stack.model.state_machines.values():
            running = sfn.list_executions(stateMachineArn=m.arn, statusFilter="RUNNING").get("executions")
            if running:
                return f"{len(running)} executions of {m.logical_id} running"
        return ""

    def _busy(self) -> bool:
        return any(p.in_flight for p in self._stack.pools.values()) or bool(
            self._stack.docker and self._stack.docker.in_flight
        )

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Return once queues are empty, streams drained, nothing in flight and no execution running.

        Raises TimeoutError (naming what is still busy) after ``timeout`` seconds.
        """
        sqs = make_client("sqs", self._stack.aws_endpoint, internal=True)
        sfn = make_client("stepfunctions", self._stack.aws_endpoint, internal=True)
        deadline = time.monotonic() + timeout
        calm = 0
        reason = ""
        while time.monotonic() < deadline:
            passes = {id(sp): sp.passes for sp in self._stack.stream_pollers}
            activity = self._stack.activity
            reason = self._idle_now(sfn, sqs)
            if not reason:
                # every stream poller must finish a fresh pass that found nothing
                while time.monotonic() < deadline and any(
                    sp.passes <= passes[id(sp)] + 1 and sp.is_alive() for sp in self._stack.stream_pollers
                ):
                    time.sleep(0.01)
                busy_streams = [sp.table.logical_id for sp in self._stack.stream_pollers if sp.empty_passes == 0]
                if busy_streams:
                    reason = f"streams not drained: {busy_streams}"
                elif self._stack.activity != activity or self._busy():
                    reason = "invocations happened meanwhile"
            if reason:
                calm = 0
                time.sleep(0.02)
                continue
            calm += 1
            if calm >= 2:
                return
        raise TimeoutError(f"stack not idle after {timeout}s: {reason}")
