"""Amounts: JSON numbers greater than 0, at most 1,000,000, with at most two decimal places."""

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

MAX_AMOUNT = 1_000_000


def _check_amount(value: Any) -> int | float:
    """Checks the number as the client wrote it: the API parses JSON decimals as Decimal
    (platform_core.api), so 10.0000000000000001 is refused rather than rounded to 10."""
    # Strings, booleans, NaN and Infinity are not amounts, whatever pydantic would coerce.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a JSON number")
    exact = value if isinstance(value, Decimal) else Decimal(str(value))
    if not exact.is_finite():
        raise ValueError("must be a finite number")
    if not 0 < exact <= MAX_AMOUNT:
        raise ValueError(f"must be greater than 0 and at most {MAX_AMOUNT:,}")
    exponent = exact.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError("must have at most two decimal places")
    return int(exact) if exact == exact.to_integral_value() else float(exact)


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
