"""What must differ between execution environments that SnapStart restores from one snapshot.

With SnapStart (template parameter EnableSnapStart), Lambda runs the init once, snapshots the memory, and
resumes every new execution environment from that copy: whatever the init computed is the same in all of
them. Reviewed (docs/deploy.md#snapstart): the import-time state of these functions that must differ is

- the ``random`` module's generator, seeded from the OS at its import: every restored environment would draw
  the same numbers (botocore's retry jitter, Powertools' log sampling), so their retries would stay in step;
- python-ulid's default generator, which keeps the last id's millisecond and randomness to stay monotonic:
  it starts afresh, so nothing of the snapshot's ids carries over.

The rest needs nothing: ids (ULIDs, uuid4 claims) draw from ``os.urandom``, which Lambda reseeds on restore;
the HMAC key, the HS256 key and the JWKS are read on first use (after the restore) and cached with a TTL
against the wall clock; boto3's clients open no connection at import, and with SnapStart their credentials
come from the container credentials endpoint, refreshed when they expire.

The hook is registered with the runtime's ``snapshot_restore_py`` (part of Lambda's Python runtimes); where it
is absent nothing is ever restored, so nothing is registered.
"""

from __future__ import annotations

import random
import sys


def renew_after_restore() -> None:
    """Run by the runtime once per restored environment, before its first invocation."""
    random.seed()  # from os.urandom, as at the import of random
    if "ulid" in sys.modules:  # imported on first use (platform_core.clock.new_id): else nothing to renew
        import ulid

        ulid.default_generator = ulid.ULIDGenerator()


def register() -> bool:
    """Register :func:`renew_after_restore` with the runtime; False where there is no SnapStart runtime."""
    try:
        from snapshot_restore_py import register_after_restore
    except ImportError:
        return False
    register_after_restore(renew_after_restore)
    return True


registered = register()
