"""Documents generated from the code and committed: `--write` refreshes them, `--check` (the default)
fails when one has drifted from the code, naming the make target that refreshes it."""

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sync(description: str, targets: Sequence[Path], render: Callable[[], str], make_target: str) -> int:
    parser = argparse.ArgumentParser(description=description)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the committed documents")
    mode.add_argument("--check", action="store_true", help="fail when a committed document drifted (the default)")
    args = parser.parse_args()
    text = render()
    if args.write:
        for path in targets:
            path.write_text(text)
        print(f"wrote {', '.join(str(p.relative_to(ROOT)) for p in targets)}")
        return 0
    stale = [p for p in targets if not p.exists() or p.read_text() != text]
    for path in stale:
        print(f"{path.relative_to(ROOT)} is out of date: run `make {make_target}`", file=sys.stderr)
    return 1 if stale else 0
