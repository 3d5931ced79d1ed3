"""The OpenAPI document's card schemas say exactly what the API accepts (the Luhn check aside, which the
number's schema names as its format): each field's documented schema against the model's own validators."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from payments.cards import luhn_valid
from payments.models import CreditCardDetails
from tests.support.lambda_env import ROOT

FIELDS = json.loads((ROOT / "openapi.json").read_text())["components"]["schemas"]["CreditCardDetails"]["properties"]
GOOD = {"number": "4242 4242 4242 4242", "cvt": "123", "expiry": "12/30"}


def documented(schema: dict[str, Any], value: Any) -> bool:
    """Whether a value meets a field's schema, patterns read as ECMA-262 does (fullmatch: `$` never matches
    before a trailing newline, as Python's `re.search` would let it)."""
    if "anyOf" in schema:
        return any(documented(branch, value) for branch in schema["anyOf"])
    if schema["type"] == "string":
        return isinstance(value, str) and re.fullmatch(schema["pattern"], value) is not None
    if schema["type"] == "integer":
        return type(value) is int and schema["minimum"] <= value <= schema["maximum"]
    raise AssertionError(f"unexpected schema {schema}")


def accepted(field: str, value: Any) -> bool:
    try:
        CreditCardDetails.model_validate({**GOOD, field: value})
    except ValidationError:
        return False
    return True


def luhn_fixed(raw: str) -> str:
    """The same text with its last digit made the Luhn check digit (separators and all else kept)."""
    positions = [i for i, ch in enumerate(raw) if ch in "0123456789"]
    if not positions:
        return raw
    digits = "".join(raw[i] for i in positions)
    check = next(d for d in "0123456789" if luhn_valid(digits[:-1] + d))
    return raw[: positions[-1]] + check + raw[positions[-1] + 1 :]


# Shapes near the rules, so that both sides of each boundary are tried (lengths, separators, ranges).
NUMBERS = st.from_regex(r"[ -]{0,2}(?:[0-9]{1,5}[ -]?){2,5}[0-9]{0,4}\n?", fullmatch=True)
CVCS = st.one_of(st.from_regex(r" ?[0-9]{1,5} ?\n?", fullmatch=True), st.integers(-10, 20_000), st.booleans())
EXPIRIES = st.from_regex(r" ?[0-9]{1,3}/[0-9]{1,5}(?:/[0-9]{1,5})? ?\n?", fullmatch=True)


@settings(max_examples=400, deadline=None)
@given(NUMBERS)
@example("4242-4242-4242-4242")
@example("4242 4242 4242 4242\n")
@example("424242424242424242424")
def test_the_number_schema_is_the_number_rule(raw: str):
    candidate = luhn_fixed(raw)
    assert documented(FIELDS["number"], candidate) == accepted("number", candidate), repr(candidate)
    assert FIELDS["number"]["format"] == "card-number"


@settings(max_examples=400, deadline=None)
@given(CVCS)
@example(99)
@example(100)
@example(9999)
@example(10000)
@example("0001")
@example("12")
def test_the_cvc_schema_is_the_cvc_rule(raw: Any):
    assert documented(FIELDS["cvt"], raw) == accepted("cvt", raw), repr(raw)


@settings(max_examples=800, deadline=None)
@given(EXPIRIES)
@example("2/29/2024")
@example("2/29/2100")
@example("2/29/2000")
@example("2/30/2024")
@example("4/31/2030")
@example("12/31/2199")
@example("00/30")
@example("13/30")
@example("12/2200")
@example("1/1999")
@example("1/0000")
@example("1/0030")
@example(" 12/30 ")
@example("12/30\n")
def test_the_expiry_schema_is_the_expiry_rule(raw: str):
    assert documented(FIELDS["expiry"], raw) == accepted("expiry", raw), repr(raw)
