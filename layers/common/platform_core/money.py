"""Amounts: JSON numbers greater than 0, at most 1,000,000, with at most two decimal places."""

import math
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

MAX_AMOUNT = 1_000_000


def _check_amount(value: Any) -> int | float:
    # Strings, booleans, NaN and Infinity are not amounts, whatever pydantic would coerce.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    if not 0 < value <= MAX_AMOUNT:
        raise ValueError(f"must be greater than 0 and at most {MAX_AMOUNT:,}")
    exponent = Decimal(str(value)).normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError("must have at most two decimal places")
    return value


Amount = Annotated[
    int | float,
    BeforeValidator(_check_amount),
    WithJsonSchema(
        {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": MAX_AMOUNT,
            "multipleOf": 0.01,
            "description": "Amount: greater than 0, at most 1,000,000, at most two decimal places.",
            "examples": [2000],
        }
    ),
]


def to_decimal(value: int | float) -> Decimal:
    return Decimal(str(value))
