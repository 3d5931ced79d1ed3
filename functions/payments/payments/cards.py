"""Card details: parsing and checks that need no processor (Luhn, formats, expiry).

Only the brand and the last four digits ever leave this module's callers.
"""

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime

# ASCII digits only, always matched in full: `\d` also matches full-width and Arabic-Indic digits, and
# `$` matches before a trailing newline.
_SEPARATORS = re.compile(r"[ -]")
_DIGITS = re.compile(r"[0-9]{12,19}")
_CVC = re.compile(r"[0-9]{3,4}")
_MONTH_YEAR = re.compile(r"([0-9]{1,2})/([0-9]{2}|[0-9]{4})")
_MONTH_DAY_YEAR = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
# Surrounding spaces are forgiven; any other whitespace (a newline, a tab) is a malformed value.
_SPACE = " "

# The same rules as JSON Schema patterns (ECMA-262) for the OpenAPI document, so that clients and generated
# test data know them; tests/unit/test_card_patterns.py checks that each accepts exactly what its parser
# accepts. Only the Luhn check is beyond a pattern: the number's schema names it as its format.
NUMBER_PATTERN = r"^[ -]*(?:[0-9][ -]*){12,19}$"
CVC_PATTERN = r"^ *[0-9]{3,4} *$"
CVC_INTEGERS = (100, 9999)  # a CVC sent as a JSON number: 3 or 4 digits
_MONTH = r"(?:0?[1-9]|1[0-2])"
_YEAR = r"2[01][0-9]{2}"  # 2000..2199
_LEAP_YEAR = r"(?:20(?:[02468][048]|[13579][26])|21(?:0[48]|[2468][048]|[13579][26]))"  # 2100 is not
_REAL_DATE = (
    rf"{_MONTH}/(?:0?[1-9]|1[0-9]|2[0-8])/{_YEAR}"
    rf"|(?:0?[13-9]|1[0-2])/(?:29|30)/{_YEAR}"
    rf"|(?:0?[13578]|1[02])/31/{_YEAR}"
    rf"|0?2/29/{_LEAP_YEAR}"
)
EXPIRY_PATTERN = rf"^ *(?:{_MONTH}/(?:[0-9]{{2}}|{_YEAR})|{_REAL_DATE}) *$"


def normalize_number(raw: str) -> str:
    digits = _SEPARATORS.sub("", raw)
    if not _DIGITS.fullmatch(digits):
        raise ValueError("must be 12 to 19 digits (spaces and dashes allowed)")
    if not luhn_valid(digits):
        raise ValueError("is not a valid card number (Luhn check)")
    return digits


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def normalize_cvc(raw: str | int) -> str:
    if isinstance(raw, bool):
        raise ValueError("must be 3 or 4 digits")
    text = str(raw) if isinstance(raw, int) else raw.strip(_SPACE)
    if not _CVC.fullmatch(text):
        raise ValueError("must be 3 or 4 digits")
    return text


@dataclass(frozen=True)
class Expiry:
    month: int
    year: int

    def last_moment(self) -> datetime:
        """A card is valid through the last day of its expiry month."""
        last_day = calendar.monthrange(self.year, self.month)[1]
        return datetime(self.year, self.month, last_day, 23, 59, 59, tzinfo=UTC)

    def is_past(self, now: datetime) -> bool:
        return now > self.last_moment()


def parse_expiry(raw: str) -> Expiry:
    """MM/YY, MM/YYYY, or the original system's M/D/YYYY."""
    text = raw.strip(_SPACE)
    if match := _MONTH_YEAR.fullmatch(text):
        month, year = int(match[1]), int(match[2])
        # Only a two-digit year is of this century: "0030" is the year 30, refused as implausible.
        year = year + 2000 if len(match[2]) == 2 else year
    elif match := _MONTH_DAY_YEAR.fullmatch(text):
        month, day, year = int(match[1]), int(match[2]), int(match[3])
        if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
            raise ValueError("is not a real date")
    else:
        raise ValueError("must be MM/YY, MM/YYYY or M/D/YYYY")
    if not 1 <= month <= 12:
        raise ValueError("has no such month")
    if not 2000 <= year <= 2199:
        raise ValueError("has an implausible year")
    return Expiry(month, year)


def brand_of(number: str) -> str:
    prefix2, prefix3, prefix4 = int(number[:2]), int(number[:3]), int(number[:4])
    rules = (
        ("visa", number.startswith("4")),
        ("mastercard", 51 <= prefix2 <= 55 or 2221 <= prefix4 <= 2720),
        ("amex", prefix2 in (34, 37)),
        ("discover", number.startswith(("6011", "65")) or 644 <= prefix3 <= 649),
        ("diners", prefix2 in (30, 36, 38)),
        ("jcb", 3528 <= prefix4 <= 3589),
    )
    return next((brand for brand, matches in rules if matches), "unknown")
