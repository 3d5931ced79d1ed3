"""Chaos in the local stack: AWS errors, dropped connections, dead workers and refused deliveries, at rates.

Next to :class:`devstack.aws.FaultInjector`'s count- and time-based faults, :class:`Chaos` fails a share of
requests at random, the way AWS does now and then:

- AWS calls of the functions (and, with ``internal``, of the stack's own pollers) answer each service's real
  errors: throttling (400), internal error (500), unavailable (503); or ``timeout``: the connection hangs
  for ``timeout_hold`` seconds and is dropped without an answer, half of the time after the request was
  applied (the client cannot tell: that is what makes a timeout hard).
- ``kill_rate`` of the invocations of the chosen functions lose their worker (SIGKILL) in the middle of the
  invocation: the gateway answers 502, an SQS message comes back after its visibility timeout, a stream
  batch is retried.
- ``delivery_rate`` of the event source mappings' invocations are refused before the function runs (Lambda's
  ``TooManyRequestsException``): the message or the batch is retried the same way.

A seed makes the schedule repeatable: the n-th call of each operation (the n-th invocation of each
function) draws the same fate in every run; which request is the n-th depends on thread timing.
"""

from __future__ import annotations

import collections
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from devstack.hooks import TIMEOUT, AwsFault

if TYPE_CHECKING:
    from devstack.stack import LocalStack

# Each service's real error codes for "slow down" and "failed on our side" (HTTP status, code).
AWS_ERRORS: dict[str, dict[str, tuple[int, str]]] = {
    "dynamodb": {
        "throttled": (400, "ThrottlingException"),
        "internal": (500, "InternalServerError"),
        "unavailable": (503, "ServiceUnavailable"),
    },
    "dynamodbstreams": {
        "throttled": (400, "ThrottlingException"),
        "internal": (500, "InternalServerError"),
        "unavailable": (503, "ServiceUnavailable"),
    },
    "sns": {
        "throttled": (400, "Throttled"),
        "internal": (500, "InternalError"),
        "unavailable": (503, "ServiceUnavailable"),
    },
    "sqs": {
        "throttled": (400, "RequestThrottled"),
        "internal": (500, "InternalError"),
        "unavailable": (503, "ServiceUnavailable"),
    },
    "stepfunctions": {
        "throttled": (400, "ThrottlingException"),
        "internal": (500, "InternalFailure"),
        "unavailable": (503, "ServiceUnavailable"),
    },
    "secretsmanager": {
        "throttled": (400, "ThrottlingException"),
        "internal": (500, "InternalServiceError"),
        "unavailable": (503, "ServiceUnavailable"),
    },
}
KINDS = ("throttled", "internal", "unavailable", TIMEOUT)
# Lambda refusing an event source mapping's invocation (the function never runs).
DELIVERY_ERROR = {"errorType": "TooManyRequestsException", "errorMessage": "Rate Exceeded. (injected)"}
# The functions' own clients say so in their user agent (botocore adds AWS_EXECUTION_ENV).
FUNCTION_UA = "exec-env/AWS_Lambda"


@dataclass(frozen=True)
class ChaosConfig:
    seed: int = 1
    aws_rate: float = 0.05
    """Share of AWS calls failed, per service and operation unless ``rates`` says otherwise."""
    rates: Mapping[str, float] = field(default_factory=dict)
    """Overrides: ``"sns"`` or ``"dynamodb:PutItem"`` -> rate."""
    internal: bool = True
    """Also fail the stack's own poller calls (ReceiveMessage, DeleteMessageBatch, GetRecords, ...)."""
    kinds: tuple[str, ...] = KINDS
    timeout_hold: float = 0.3
    kill_rate: float = 0.01
    kill_functions: tuple[str, ...] = ()
    """Logical ids whose workers may be killed; empty: every function."""
    delivery_rate: float = 0.01


class Chaos:
    """Decides, per request and per invocation, what goes wrong; counts what it injected.

    The engine's :class:`devstack.hooks.FaultHooks`: :func:`attach` hands it to a stack.
    """

    def __init__(self, config: ChaosConfig) -> None:
        self.config = config
        self.enabled = threading.Event()
        self._lock = threading.Lock()
        self._draws: collections.Counter[str] = collections.Counter()
        self.injected: collections.Counter[str] = collections.Counter()
        self._durations: dict[str, float] = {}

    def start(self) -> None:
        self.enabled.set()

    def stop(self) -> None:
        self.enabled.clear()

    def _draw(self, what: str) -> random.Random:
        with self._lock:
            n = self._draws[what]
            self._draws[what] += 1
        return random.Random(f"{self.config.seed}|{what}|{n}")

    def note(self, what: str) -> None:
        with self._lock:
            self.injected[what] += 1

    def counts(self) -> collections.Counter[str]:
        with self._lock:
            return collections.Counter(self.injected)

    def _rate(self, service: str, operation: str) -> float:
        rates = self.config.rates
        return float(rates.get(f"{service}:{operation}", rates.get(service, self.config.aws_rate)))

    # ---------------------------------------------------------------- AWS requests
    def aws_fault(self, service: str, operation: str, user_agent: str, internal: bool) -> AwsFault | None:
        if not self.enabled.is_set() or service not in AWS_ERRORS:
            return None
        if not (FUNCTION_UA in user_agent or (internal and self.config.internal)):
            return None  # test clients, the checker, moto's own Step Functions integrations
        rate = self._rate(service, operation)
        if rate <= 0:
            return None
        rng = self._draw(f"aws|{service}|{operation}")
        if rng.random() >= rate:
            return None
        kind = rng.choice(self.config.kinds)
        who = "poller" if internal else "function"
        if kind == TIMEOUT:
            applied = rng.random() < 0.5
            self.note(f"aws {service} {operation} timeout{' (applied)' if applied else ''} [{who}]")
            return AwsFault(TIMEOUT, 0, "", applied, hold=self.config.timeout_hold)
        status, code = AWS_ERRORS[service][kind]
        self.note(f"aws {service} {operation} {status} {code} [{who}]")
        return AwsFault(kind, status, code)

    # ---------------------------------------------------------------- invocations
    def _targets(self, function: str) -> bool:
        return not self.config.kill_functions or function in self.config.kill_functions

    def kill_after(self, function: str) -> float | None:
        """Seconds into this invocation at which its worker dies, or None: it lives."""
        if not self.enabled.is_set() or self.config.kill_rate <= 0 or not self._targets(function):
            return None
        rng = self._draw(f"kill|{function}")
        if rng.random() >= self.config.kill_rate:
            return None
        # Somewhere inside a typical invocation of this function (learnt from the ones before); one that
        # ends sooner escapes (counted as such).
        typical = self._durations.get(function, 0.02)
        return rng.uniform(0.05, 0.8) * typical

    def arm_kill(self, function: str, kill: Callable[[], bool]) -> Callable[[], None] | None:
        """Start the clock of a doomed invocation; returns its disarm (call it when the invocation ends)."""
        delay = self.kill_after(function)
        if delay is None:
            return None

        fired = threading.Event()

        def fire() -> None:
            fired.set()
            if kill():
                self.note(f"kill {function}")

        def disarm() -> None:
            timer.cancel()
            if not fired.is_set():
                self.note(f"kill escaped (the invocation ended first) {function}")

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        timer.start()
        return disarm

    def observed(self, function: str, seconds: float) -> None:
        with self._lock:
            prev = self._durations.get(function)
            self._durations[function] = seconds if prev is None else 0.8 * prev + 0.2 * seconds

    def refuse_delivery(self, function: str) -> dict[str, Any] | None:
        """The error of an event source mapping invocation Lambda refuses, or None."""
        if not self.enabled.is_set() or self.config.delivery_rate <= 0:
            return None
        rng = self._draw(f"delivery|{function}")
        if rng.random() >= self.config.delivery_rate:
            return None
        self.note(f"delivery refused {function}")
        return dict(DELIVERY_ERROR)


def attach(stack: LocalStack, config: ChaosConfig) -> Chaos:
    """Wire a (stopped) :class:`Chaos` into a started :class:`devstack.stack.LocalStack`; ``start()`` it."""
    chaos = Chaos(config)
    stack.attach_hooks(chaos)
    return chaos
