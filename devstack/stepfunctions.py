"""Step Functions as AWS evaluates it, where moto's interpreter differs in a way the delivery state machine meets.

A reference path with a literal index followed by a field (``$.outcome.errors[0].Code``) names one node, and AWS
gives that node ("A reference path ... can identify only a single node", the Amazon States Language's Paths).
moto 5.2 gives a one-element list instead (json_path.extract_json wraps any match whose parent is an array
index, a fix it made for ``[*]``), so a Choice rule's ``StringEquals`` never matches. Paths with a wildcard,
a filter or a slice keep moto's answer.

Tests also hold Wait states (``LocalStack.inspect.hold_waits``): a test that must act between an order's
confirmation and its delivery then does so whatever the machine's load, instead of racing the delay.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from jsonpath_ng.ext import parse
from moto.stepfunctions.parser.asl.component.common.string import string_expression
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

# $ followed by .name, ['name'] or [digits] only: what AWS calls a reference path, one node.
_DEFINITE_PATH = re.compile(r"^\$(?:\.[A-Za-z_][\w-]*|\['[^'\]]*'\]|\[\d+\])+$")


def _one_node(extract: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    def extract_json(path: str, data: Any) -> Any:
        if _DEFINITE_PATH.match(path):
            matches = parse(path).find(data)
            if len(matches) == 1:
                return matches[0].value
        return extract(path, data)

    extract_json.aws_reference_paths = True  # type: ignore[attr-defined]
    return extract_json


class _MissingPathNotice(logging.Filter):
    """moto logs an ERROR for every path it does not find, also where that is the answer (a Choice's
    ``IsPresent: false``, which the delivery Choice asks on every run). A missing path a state needed fails
    that state, which the execution's history shows (States.Runtime); the log line adds nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (args and str(args[0]).startswith("Exception=NoSuchJsonPathError"))


_EVAL_LOG = logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component")


def use_aws_reference_paths() -> None:
    """Make moto's paths in states (Choice variables, ``.$`` fields) answer a definite path with its node."""
    current = string_expression.extract_json
    if not getattr(current, "aws_reference_paths", False):
        string_expression.extract_json = _one_node(current)  # type: ignore[assignment]
        _EVAL_LOG.addFilter(_MissingPathNotice())


class _WaitGate:
    """While held, a Wait state whose time is up waits on: moto runs every execution in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._open = threading.Event()
        self._open.set()

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            self._holders += 1
            self._open.clear()
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if not self._holders:
                    self._open.set()

    def pass_when_open(self, env: Any) -> None:
        while not self._open.wait(0.05) and env.is_running():
            pass


WAIT_GATE = _WaitGate()


def gate_wait_states() -> None:
    """Make every Wait state end only once its time is up and ``WAIT_GATE`` is not held."""
    if getattr(WaitFunction._eval_body, "gated", False):
        return
    original = WaitFunction._eval_body

    def _eval_body(self: WaitFunction, env: Any) -> None:
        original(self, env)
        WAIT_GATE.pass_when_open(env)

    _eval_body.gated = True  # type: ignore[attr-defined]
    WaitFunction._eval_body = _eval_body  # type: ignore[method-assign]
