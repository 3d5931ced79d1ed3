"""Finish one Lambda artifact for `sam build` (called by the Makefile beside this file; stdlib only).

``finish DIR --copy-from SRC --runtime-path /var/task``: copy SRC's Python packages into DIR, drop what
Lambda never imports, compile every module to bytecode that stays valid after the unzip, and check that
every ``.py`` has its ``.pyc``. ``check DIR``: only the last step (tests and `make bench` call it too).
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import py_compile
import shutil
import sys
from pathlib import Path

# Never imported on Lambda: type stubs and markers, source maps of bundled JavaScript, pip's install records.
DROP_SUFFIXES = (".pyi", ".map")
DROP_NAMES = ("py.typed", "RECORD", "INSTALLER", "REQUESTED", "direct_url.json")
# Never copied from a CodeUri: the build's own inputs.
SKIP_SOURCES = ("requirements.txt", "requirements.in", "Makefile", "__pycache__")


def copy_sources(src: Path, dest: Path) -> None:
    """The CodeUri's packages and top-level modules (a package is a folder with ``__init__.py``)."""
    for entry in sorted(src.iterdir()):
        if entry.name in SKIP_SOURCES or entry.name.startswith("."):
            continue
        if entry.is_dir() and (entry / "__init__.py").exists():
            shutil.copytree(entry, dest / entry.name, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
        elif entry.is_file() and entry.suffix == ".py":
            shutil.copy2(entry, dest / entry.name)


def prune(root: Path) -> int:
    """Delete stubs, source maps, install records and stale caches; returns the bytes removed."""
    removed = 0
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_dir() and path.name == "__pycache__":
            removed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            shutil.rmtree(path)
        elif path.is_file() and (path.suffix in DROP_SUFFIXES or path.name in DROP_NAMES):
            removed += path.stat().st_size
            path.unlink()
    return removed


def compile_tree(root: Path, runtime_path: str) -> None:
    """Bytecode for the runtime's Python, unchecked-hash; tracebacks name the path the code has on Lambda."""
    ok = compileall.compile_dir(
        str(root),
        quiet=1,
        stripdir=str(root),
        prependdir=runtime_path,
        workers=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        raise SystemExit(f"compileall failed under {root}")


def missing_bytecode(root: Path) -> list[Path]:
    """Every ``.py`` under ``root`` whose ``__pycache__`` has no unchecked-hash ``.pyc`` for this Python."""
    missing = []
    for py in root.rglob("*.py"):
        pyc = Path(importlib.util.cache_from_source(str(py)))
        # PEP 552 header: magic (4 bytes), flags (4): bit 0 = hash-based, bit 1 = check_source.
        if not pyc.exists() or pyc.read_bytes()[4:8] != (1).to_bytes(4, "little"):
            missing.append(py)
    return missing


def check(root: Path) -> None:
    missing = missing_bytecode(root)
    if missing:
        shown = "\n  ".join(str(p.relative_to(root)) for p in missing[:10])
        raise SystemExit(f"{len(missing)} modules under {root} have no unchecked-hash .pyc, e.g.\n  {shown}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--python-version", default="3.13", help="the Lambda runtime's (the template's Runtime)")
    sub = ap.add_subparsers(dest="command", required=True)
    fin = sub.add_parser("finish")
    fin.add_argument("dir", type=Path)
    fin.add_argument("--copy-from", type=Path, required=True)
    fin.add_argument("--runtime-path", required=True)
    chk = sub.add_parser("check")
    chk.add_argument("dir", type=Path)
    args = ap.parse_args(argv)
    if "{}.{}".format(*sys.version_info[:2]) != args.python_version:
        this = f"{sys.version.split()[0]} ({sys.executable})"
        raise SystemExit(f"the Lambda runtime is Python {args.python_version}; this is {this}")
    if args.command == "finish":
        args.dir.mkdir(parents=True, exist_ok=True)
        copy_sources(args.copy_from, args.dir)
        prune(args.dir)
        compile_tree(args.dir, args.runtime_path)
    check(args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
