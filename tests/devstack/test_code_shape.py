"""devstack stays readable: no function over 80 lines and no complexity waiver (split instead).

ruff's complexity rules (pylint's PLR09xx, mccabe's C901) are on for the whole code base; a ``noqa`` for
one of them, a bare ``noqa``, a file-wide ``ruff: noqa`` or a per-file ignore in pyproject.toml would switch
them off for devstack without anyone noticing.
"""

from __future__ import annotations

import ast
import io
import re
import textwrap
import tokenize
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEVSTACK = ROOT / "devstack"
MAX_FUNCTION_LINES = 80

# pylint's refactoring rules (PLR: too many returns, branches, statements, arguments...) and mccabe's (C90x),
# or a prefix of them.
_COMPLEXITY_RULE = r"PLR?\d*|C9\d*"
# A bare "noqa", a file-wide "ruff: noqa", or a noqa naming a complexity rule.
_WAIVER = re.compile(rf"\bnoqa\b(?!\s*:)|\bruff\s*:\s*noqa\b|\bnoqa\s*:[^#]*\b({_COMPLEXITY_RULE})\b", re.IGNORECASE)


def long_functions(source: str, name: str) -> list[str]:
    """Functions and methods of ``source`` longer than MAX_FUNCTION_LINES (decorators excluded)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                found.append(f"{name}:{node.lineno} {node.name} is {lines} lines")
    return found


def complexity_waivers(source: str, name: str) -> list[str]:
    """The comments of ``source`` (not its strings) that switch a complexity rule off."""
    return [
        f"{name}:{tok.start[0]} {tok.string}"
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT and _WAIVER.search(tok.string)
    ]


def _sources() -> list[tuple[str, str]]:
    return [(str(p.relative_to(ROOT)), p.read_text()) for p in sorted(DEVSTACK.rglob("*.py"))]


def test_no_devstack_function_is_longer_than_80_lines() -> None:
    found = [hit for name, source in _sources() for hit in long_functions(source, name)]
    assert not found, "split these into named steps:\n" + "\n".join(found)


def test_devstack_switches_off_no_complexity_rule() -> None:
    found = [hit for name, source in _sources() for hit in complexity_waivers(source, name)]
    assert not found, "split instead of waiving:\n" + "\n".join(found)


def test_pyproject_ignores_no_complexity_rule_for_devstack() -> None:
    lint = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    ignored = {
        f"{pattern}: {rule}"
        for pattern, rules in (lint.get("per-file-ignores") or {}).items()
        if pattern.startswith(("devstack", "*"))
        for rule in rules
        if re.fullmatch(_COMPLEXITY_RULE, rule)
    }
    assert not ignored


def test_the_checks_catch_what_they_are_for() -> None:
    def function(lines: int) -> str:
        return "async def f():\n" + "".join(f"    x = {i}\n" for i in range(lines - 1))

    assert long_functions(function(MAX_FUNCTION_LINES), "m.py") == []
    assert long_functions(function(MAX_FUNCTION_LINES + 1), "m.py") == ["m.py:1 f is 81 lines"]
    method = "class C:\n    @staticmethod\n" + textwrap.indent(function(MAX_FUNCTION_LINES + 1), "    ")
    assert long_functions(method, "m.py") == ["m.py:3 f is 81 lines"]
    waived = [
        "def f(a, b, c, d, e, f):  # noqa: PLR0917\n",
        "def f():  # noqa: E501, PLR0912\n",
        "def f():  # noqa: C901\n",
        "def f():  # noqa: PLR\n",
        "def f():  # noqa\n",
        "# ruff: noqa\n",
    ]
    for source in waived:
        assert complexity_waivers(source, "m.py"), source
    kept = ['s = "# noqa: PLR0911"\n', 'k = "x"  # noqa: S105 - a test value\n', "# noqa: E501 is fine\n"]
    for source in kept:
        assert complexity_waivers(source, "m.py") == [], source
