"""devstack and the harnesses (loadtest) stay readable: no file over 400 lines, no function over 60, no
complexity waiver (split instead), and the engine imports nothing from the harnesses.

ruff's complexity rules (pylint's PLR09xx and PLR1702, mccabe's C901) are on for the whole code base; a
``noqa`` for one of them, a bare ``noqa``, a file-wide ``ruff: noqa``, an ignore in pyproject.toml (project-wide,
or per file for a pattern devstack's files match) or a limit raised above ruff's default would switch them off
for devstack without anyone noticing.
"""

from __future__ import annotations

import ast
import fnmatch
import io
import re
import textwrap
import tokenize
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEVSTACK = ROOT / "devstack"
HARNESSES = ROOT / "loadtest"
MAX_FUNCTION_LINES = 60
MAX_FILE_LINES = 400
# The command line (devstack/__main__.py) is the front door to both: ``python -m devstack soak|chaos``.
ENGINE_EXCEPTIONS = {"devstack/__main__.py"}

# pylint's refactoring rules (PLR: too many returns, branches, statements, arguments...) and mccabe's (C90x),
# or a prefix of them.
_COMPLEXITY_RULE = r"PLR?\d*|C9\d*"
# The complexity rules themselves, and ruff's default limits for the ones that have a setting.
COMPLEXITY_RULES = ("PLR0904", "PLR0911", "PLR0912", "PLR0913", "PLR0914", "PLR0915", "PLR0916", "PLR0917")
COMPLEXITY_RULES += ("PLR1702", "C901")
DEFAULT_LIMITS = {
    ("pylint", "max-args"): 5,
    ("pylint", "max-positional-args"): 5,
    ("pylint", "max-branches"): 12,
    ("pylint", "max-returns"): 6,
    ("pylint", "max-statements"): 50,
    ("pylint", "max-locals"): 15,
    ("pylint", "max-public-methods"): 20,
    ("pylint", "max-bool-expr"): 5,
    ("pylint", "max-nested-blocks"): 5,
    ("mccabe", "max-complexity"): 10,
}
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


def _sources(*dirs: Path) -> list[tuple[str, str]]:
    dirs = dirs or (DEVSTACK, HARNESSES)
    return [(str(p.relative_to(ROOT)), p.read_text()) for d in dirs for p in sorted(d.rglob("*.py"))]


def harness_imports(source: str, name: str) -> list[str]:
    """The imports of ``source`` that reach into the harness package (``loadtest``), lazy ones included."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [f"{name}:{node.lineno} imports {n}" for n in names if n.split(".")[0] == HARNESSES.name]
    return found


def test_no_function_is_longer_than_60_lines() -> None:
    found = [hit for name, source in _sources() for hit in long_functions(source, name)]
    assert not found, "split these into named steps:\n" + "\n".join(found)


def test_no_file_is_longer_than_400_lines() -> None:
    found = [f"{name} is {n} lines" for name, source in _sources() if (n := len(source.splitlines())) > MAX_FILE_LINES]
    assert not found, "split these by concern:\n" + "\n".join(found)


def test_the_engine_imports_nothing_from_the_harnesses() -> None:
    engine = [(name, source) for name, source in _sources(DEVSTACK) if name not in ENGINE_EXCEPTIONS]
    found = [hit for name, source in engine for hit in harness_imports(source, name)]
    assert not found, "the engine knows chaos only through devstack.hooks:\n" + "\n".join(found)


def test_devstack_switches_off_no_complexity_rule() -> None:
    found = [hit for name, source in _sources() for hit in complexity_waivers(source, name)]
    assert not found, "split instead of waiving:\n" + "\n".join(found)


def _switches_off_complexity(selector: str) -> bool:
    """True when ignoring ``selector`` (a rule, or a prefix such as "PLR" or "PL") ignores a complexity rule."""
    return selector == "ALL" or any(rule.startswith(selector.upper()) for rule in COMPLEXITY_RULES)


def _covers_devstack(pattern: str, files: list[str]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(name, f"**/{pattern}") for name in files)


def pyproject_waivers(lint: dict[str, Any], files: list[str]) -> list[str]:
    """What in ``[tool.ruff.lint]`` switches a complexity rule off for any of ``files`` (devstack's)."""
    ignored = [rule for key in ("ignore", "extend-ignore") for rule in lint.get(key, [])]
    found = [f"ignore: {rule}" for rule in ignored if _switches_off_complexity(rule)]
    for key in ("per-file-ignores", "extend-per-file-ignores"):
        for pattern, rules in (lint.get(key) or {}).items():
            if _covers_devstack(pattern, files):
                found += [f"{key} {pattern}: {r}" for r in rules if _switches_off_complexity(r)]
    for (section, setting), default in DEFAULT_LIMITS.items():
        value = (lint.get(section) or {}).get(setting, default)
        if value > default:
            found.append(f"{section}.{setting} = {value} (ruff's default: {default})")
    return found


def _pyproject_lint() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]


def test_pyproject_switches_off_no_complexity_rule_for_devstack() -> None:
    files = [name for name, _ in _sources()]
    assert not pyproject_waivers(_pyproject_lint(), files), "split instead of waiving"


def test_the_checks_catch_what_they_are_for() -> None:
    def function(lines: int) -> str:
        return "async def f():\n" + "".join(f"    x = {i}\n" for i in range(lines - 1))

    assert long_functions(function(MAX_FUNCTION_LINES), "m.py") == []
    assert long_functions(function(MAX_FUNCTION_LINES + 1), "m.py") == ["m.py:1 f is 61 lines"]
    method = "class C:\n    @staticmethod\n" + textwrap.indent(function(MAX_FUNCTION_LINES + 1), "    ")
    assert long_functions(method, "m.py") == ["m.py:3 f is 61 lines"]
    assert harness_imports("import loadtest.chaos\n", "m.py") == ["m.py:1 imports loadtest.chaos"]
    assert harness_imports("def f():\n    from loadtest import soak\n", "m.py") == ["m.py:2 imports loadtest"]
    assert harness_imports("from devstack.hooks import AwsFault\nimport loadtester\n", "m.py") == []
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


@pytest.mark.parametrize(
    "waiver",
    [
        {"ignore": ["PLR0913"]},  # the project-wide ignore this check was written after
        {"ignore": ["PLR"]},
        {"extend-ignore": ["PL"]},
        {"ignore": ["C901"]},
        {"ignore": ["ALL"]},
        {"per-file-ignores": {"devstack/**": ["PLR0912"]}},
        {"per-file-ignores": {"devstack/stack.py": ["PLR0913"]}},
        {"per-file-ignores": {"*.py": ["PLR0915"]}},
        {"per-file-ignores": {"**/*.py": ["PLR09"]}},
        {"extend-per-file-ignores": {"devstack/*": ["PLR0911"]}},
        {"pylint": {"max-args": 13}},
        {"mccabe": {"max-complexity": 20}},
    ],
)
def test_the_pyproject_check_catches_each_waiver(waiver: dict[str, Any]) -> None:
    files = ["devstack/stack.py", "devstack/aws.py"]
    assert pyproject_waivers({**_pyproject_lint(), **waiver}, files), waiver


def test_the_pyproject_check_keeps_what_is_no_complexity_waiver() -> None:
    files = ["devstack/stack.py"]
    kept = {
        "ignore": ["PLR2004", "S101", "PLC0415"],  # magic values, asserts, lazy imports: not complexity
        "per-file-ignores": {"tests/**": ["PLR0915"], "devstack/**": ["S603"]},
        "pylint": {"max-args": 4},
    }
    assert pyproject_waivers(kept, files) == []
