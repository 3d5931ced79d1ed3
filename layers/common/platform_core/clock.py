"""Timestamps and ids: ISO 8601 UTC with milliseconds; ids are ULIDs (sortable by creation time)."""

from datetime import UTC, datetime


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def as_utc_iso(value: str) -> str:
    """One timestamp shape in responses, whoever wrote it (the state machine writes its own)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    from ulid import ULID

    return str(ULID())
