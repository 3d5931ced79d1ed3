"""Lambda event filtering (an event source mapping's ``FilterCriteria``), as the local pollers apply it.

A record is handed to the function when it matches any of the mapping's patterns; the others are
dropped, as Lambda drops them. Patterns use the EventBridge content-filtering syntax; this module
implements the part of it Lambda documents for event filtering: exact values (strings, numbers,
``null``), ``prefix``, ``suffix``, ``anything-but``, ``numeric`` and ``exists``. Any other operator
is refused when the template is loaded, so a pattern is never silently read as something else.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_MISSING = object()


class FilterPatternError(ValueError):
    """A FilterCriteria pattern this emulator cannot apply faithfully."""


def parse_filter_criteria(criteria: Any, where: str) -> list[dict[str, Any]]:
    """``{"Filters": [{"Pattern": "<json>"}, ...]}`` -> the checked patterns."""
    if not isinstance(criteria, Mapping):
        raise FilterPatternError(f"{where}: FilterCriteria must be a mapping with Filters")
    patterns = []
    for entry in criteria.get("Filters") or []:
        raw = entry.get("Pattern") if isinstance(entry, Mapping) else None
        try:
            pattern = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError as exc:
            raise FilterPatternError(f"{where}: Pattern is not JSON: {exc}") from None
        if not isinstance(pattern, dict) or not pattern:
            raise FilterPatternError(f"{where}: Pattern must be a non-empty JSON object")
        _check(pattern, where)
        patterns.append(pattern)
    return patterns


def admits(patterns: Iterable[Mapping[str, Any]], record: Mapping[str, Any]) -> bool:
    """No patterns: every record. Otherwise the record must match one of them."""
    patterns = list(patterns)
    return not patterns or any(matches(p, record) for p in patterns)


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    if not isinstance(event, Mapping):
        return False
    for key, expected in pattern.items():
        value = event.get(key, _MISSING)
        if isinstance(expected, Mapping):
            if value is _MISSING or not matches(expected, value):
                return False
        elif not any(_leaf(rule, value) for rule in expected):
            return False
    return True


def _leaf(rule: Any, value: Any) -> bool:
    if isinstance(rule, Mapping):
        (op, arg), *_ = rule.items()
        if op == "exists":
            return (value is not _MISSING) == bool(arg)
        if value is _MISSING:
            return False
        values = value if isinstance(value, list) else [value]
        return any(_operator(op, arg, v) for v in values)
    if value is _MISSING:
        return False
    values = value if isinstance(value, list) else [value]
    return any(_same(rule, v) for v in values)


def _same(rule: Any, value: Any) -> bool:
    if isinstance(rule, bool) or isinstance(value, bool):
        return rule is value
    if isinstance(rule, (int, float)) and isinstance(value, (int, float)):
        return float(rule) == float(value)
    return bool(rule == value)


def _operator(op: str, arg: Any, value: Any) -> bool:
    if op == "prefix":
        return isinstance(value, str) and value.startswith(arg)
    if op == "suffix":
        return isinstance(value, str) and value.endswith(arg)
    if op == "anything-but":
        if isinstance(arg, Mapping):
            return not _operator(*next(iter(arg.items())), value)
        excluded = arg if isinstance(arg, list) else [arg]
        return not any(_same(e, value) for e in excluded)
    if op == "numeric":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return all(_COMPARE[arg[i]](value, arg[i + 1]) for i in range(0, len(arg), 2))
    raise FilterPatternError(f"unsupported filter operator {op!r}")  # _check refuses it at load


def _check(pattern: Mapping[str, Any], where: str) -> None:
    for key, expected in pattern.items():
        if isinstance(expected, Mapping):
            if not expected:
                raise FilterPatternError(f"{where}: {key} has an empty object")
            _check(expected, where)
            continue
        if not isinstance(expected, list) or not expected:
            raise FilterPatternError(f"{where}: {key} must be a non-empty list of values or an object")
        for rule in expected:
            if isinstance(rule, Mapping):
                _check_operator(rule, f"{where}: {key}")


def _check_operator(rule: Mapping[str, Any], where: str) -> None:
    if len(rule) != 1:
        raise FilterPatternError(f"{where}: an operator object takes exactly one operator, got {sorted(rule)}")
    (op, arg), *_ = rule.items()
    if op == "exists" and isinstance(arg, bool):
        return
    if op in ("prefix", "suffix") and isinstance(arg, str):
        return
    if op == "anything-but":
        if isinstance(arg, Mapping) and len(arg) == 1 and next(iter(arg)) in ("prefix", "suffix"):
            return
        if not isinstance(arg, Mapping):
            return
    pairs = range(0, len(arg), 2) if isinstance(arg, list) and arg and len(arg) % 2 == 0 else None
    if op == "numeric" and pairs and all(arg[i] in _COMPARE and isinstance(arg[i + 1], (int, float)) for i in pairs):
        return
    raise FilterPatternError(f"{where}: unsupported filter rule {json.dumps(rule)}")
