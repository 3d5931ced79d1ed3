"""What schemathesis needs to know beyond JSON Schema: card numbers (`format: card-number`) pass the Luhn
check, which no pattern can say. Loaded by test_schemathesis.py, and by the schemathesis CLI through
SCHEMATHESIS_HOOKS (this file's path)."""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st


def _with_check_digit(payload: str) -> str:
    """The payload and the Luhn check digit that makes the whole number valid."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:  # doubled: the check digit will sit to the right of this one
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return payload + str((10 - total % 10) % 10)


CARD_NUMBERS = st.from_regex(r"[0-9]{11,18}", fullmatch=True).map(_with_check_digit)

schemathesis.openapi.format("card-number", CARD_NUMBERS)
