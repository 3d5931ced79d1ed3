"""Step Functions as AWS evaluates it, where moto's interpreter differs in a way the delivery state machine meets.

A reference path with a literal index followed by a field (``$.outcome.errors[0].Code``) names one node, and AWS
gives that node ("A reference path ... can identify only a single node", the Amazon States Language's Paths).
moto 5.2 gives a one-element list instead (json_path.extract_json wraps any match whose parent is an array
index, a fix it made for ``[*]``), so a Choice rule's ``StringEquals`` never matches. Paths with a wildcard,
a filter or a slice keep moto's answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from jsonpath_ng.ext import parse
from moto.stepfunctions.parser.asl.component.common.string import string_expression

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
