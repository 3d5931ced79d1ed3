"""Amounts: JSON numbers greater than 0, at most 1,000,000, with at most two decimal places.

Money is a Decimal from the JSON parser (platform_core.api parses decimals as Decimal) to the table and
back: never a float in between.
"""

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from platform_core.jsonutil import plain_number

MAX_AMOUNT = 1_000_000
CENT = Decimal("0.01")


def _check_amount(value: Any) -> Decimal:
    """Checks the number exactly as the client wrote it: 1.0000000000000000000000000001 has too many decimal
    places (Decimal.normalize() would round it to 1 under the 28-digit context; comparisons are exact)."""
    # Strings, booleans, NaN and Infinity are not amounts, whatever pydantic would coerce.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a JSON number")
    exact = value if isinstance(value, Decimal) else Decimal(str(value))
    if not exact.is_finite():
        raise ValueError("must be a finite number")
    if not 0 < exact <= MAX_AMOUNT:
        raise ValueError(f"must be greater than 0 and at most {MAX_AMOUNT:,}")
    # In range, so quantize cannot overflow the context; the equality is exact.
    cents = exact.quantize(CENT)
    if exact != cents:
        raise ValueError("must have at most two decimal places")
    return _canonical(cents)


def _canonical(cents: Decimal) -> Decimal:
    """One spelling per amount, whatever the client wrote (1E+2, 100.000...0 with 38+ zeros, 0.1e3): the
    integer, or the decimal without trailing zeros. As written it could exceed the 38 digits DynamoDB (and
    boto3's context) hold, and the same amount would store and replay differently."""
    return Decimal(int(cents)) if cents == cents.to_integral_value() else cents.normalize()


_AMOUNT_SCHEMA = {
    "type": "number",
    "exclusiveMinimum": 0,
    "maximum": MAX_AMOUNT,
    "multipleOf": 0.01,
    "description": "Amount: greater than 0, at most 1,000,000, at most two decimal places.",
    "examples": [2000],
}

# A request's amount, checked.
Amount = Annotated[Decimal, BeforeValidator(_check_amount), WithJsonSchema(_AMOUNT_SCHEMA)]

# An amount in a response: a Decimal, written as a JSON number (an int when whole). Amounts have at most
# nine significant digits, which a float's shortest repr writes exactly.
Money = Annotated[
    Decimal,
    PlainSerializer(plain_number, return_type=int | float, when_used="json"),
    WithJsonSchema({"type": "number", "examples": [2000]}),
]
