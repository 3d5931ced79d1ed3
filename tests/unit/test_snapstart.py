"""SnapStart: environments restored from one snapshot must not share ids or random draws.

A fork after the init stands in for two environments restored from one snapshot: both children start from
the same memory, as restored environments do. Each runs the after-restore hooks (as Lambda's runtime does,
through snapshot_restore_py) or not, then draws ids and random numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

RESTORED_TWICE = """
import json, os, random, sys, uuid
import ulid
import platform_core  # the init: registers what a restore must renew
from platform_core.clock import new_id
from snapshot_restore_py import get_after_restore

init_id = ulid.ULID()  # an id drawn during the init: its generator state is in the snapshot
snapshot_random = random.getstate()
outputs = []
for _ in range(2):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        # CPython reseeds random in a fork's child (os.register_at_fork); a restore runs no such thing.
        random.setstate(snapshot_random)
        if sys.argv[1] == "hooks":
            for func, args, kwargs in get_after_restore():  # what awslambdaric runs after a restore
                func(*args, **kwargs)
        out = {
            # first: an id of the init's millisecond continues the snapshot's monotonic sequence
            "same_ms_id": str(ulid.ULID.from_timestamp(init_id.milliseconds)),
            "random": random.random(),
            "ids": [new_id() for _ in range(3)],
            "uuid": uuid.uuid4().hex,
            "hooks": [f.__qualname__ for f, _, _ in get_after_restore()],
        }
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as pipe:
        outputs.append(json.loads(pipe.read()))
    os.waitpid(pid, 0)
print(json.dumps(outputs))
"""


def restored_twice(mode: str) -> list[dict[str, Any]]:
    env = {"PYTHONPATH": str(ROOT / "layers" / "common"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(  # noqa: S603 - this interpreter on our own code
        [sys.executable, "-c", RESTORED_TWICE, mode], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_two_restored_environments_draw_distinct_ids_and_random_numbers() -> None:
    first, second = restored_twice("hooks")
    assert first["hooks"] == ["renew_after_restore"]  # registered once, by importing platform_core
    assert first["random"] != second["random"]
    assert len(set(first["ids"]) | set(second["ids"])) == 6
    assert first["same_ms_id"] != second["same_ms_id"]
    assert first["uuid"] != second["uuid"]


def test_without_the_hook_the_snapshot_state_is_shared() -> None:
    # The stand-in is faithful: what the hook renews is really the same in both copies without it.
    first, second = restored_twice("no-hooks")
    assert first["random"] == second["random"]
    assert first["same_ms_id"] == second["same_ms_id"]
    # os.urandom is not part of the snapshot: fresh ids differ either way.
    assert first["uuid"] != second["uuid"]
    assert set(first["ids"]).isdisjoint(second["ids"])


def test_where_the_runtime_has_no_snapshot_hooks_nothing_is_registered() -> None:
    code = (
        "import sys; sys.modules['snapshot_restore_py'] = None\n"
        "from platform_core import snapstart\n"
        "print(snapstart.registered)"
    )
    env = {"PYTHONPATH": str(ROOT / "layers" / "common"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(  # noqa: S603 - this interpreter on our own code
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
