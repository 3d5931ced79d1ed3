"""What the engine asks of a fault injector (``loadtest.chaos`` is one): the engine calls these hooks at the
points where AWS and Lambda fail in real life, and knows nothing else about who answers them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

TIMEOUT = "timeout"


@dataclass(frozen=True)
class AwsFault:
    """How one AWS request fails: an error answer (``status``, ``code``), or a ``TIMEOUT``."""

    kind: str
    status: int
    code: str
    applied: bool = False
    """For a timeout: the request is applied before the connection drops."""
    message: str = "Injected fault (chaos)"
    hold: float = 0.0
    """For a timeout: seconds the connection hangs before it is dropped."""


class FaultHooks(Protocol):
    def aws_fault(self, service: str, operation: str, user_agent: str, internal: bool) -> AwsFault | None:
        """How this AWS request fails, or None: it is served. ``internal``: the stack's own pollers ask."""
        ...

    def arm_kill(self, function: str, kill: Callable[[], bool]) -> Callable[[], None] | None:
        """Maybe schedule ``kill`` (the worker's SIGKILL) inside this invocation; returns its disarm."""
        ...

    def observed(self, function: str, seconds: float) -> None:
        """An invocation of ``function`` succeeded in ``seconds``."""
        ...

    def refuse_delivery(self, function: str) -> dict[str, Any] | None:
        """The error of an event source mapping invocation Lambda refuses, or None: it runs."""
        ...
