"""Secrets: after flows with real card numbers and tokens (and every other test of the suite, which runs
first), no function log line and no response the suite received holds a card number, a CVV or a token."""

from __future__ import annotations

import re

from devstack import LocalStack
from tests.resilience.support import (
    AMEX,
    CARDS_USED,
    DECLINED_CARD,
    GOOD_CARD,
    INSUFFICIENT_CARD,
    MASTERCARD,
    RECEIVED,
    user_api,
)

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}")
CARD_RUN = re.compile(r"(?<![\w.-])(?:\d[ -]?){12,18}\d(?![\w-])")
CVV = re.compile(r"""(?i)["']?(cvt|cvv|cvc)["']?\s*[:=]\s*["']?\d{3,4}""")
CVV_VALUES = ("987", "4321")


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def findings(text: str, where: str) -> list[str]:
    out = []
    if JWT.search(text):
        out.append(f"{where}: a bearer token")
    for m in CARD_RUN.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if digits in {re.sub(r"\D", "", c) for c in CARDS_USED} or (luhn(digits) and digits[0] in "3456"):
            out.append(f"{where}: card number {digits[:4]}… in {text[max(0, m.start() - 40) : m.end() + 10]!r}")
    if CVV.search(text):
        out.append(f"{where}: a CVV")
    return out


def test_no_card_number_cvv_or_token_anywhere(stack: LocalStack):
    api = user_api(stack, "secrets")
    ids = [api.create_id() for _ in range(6)]
    stack.inspect.wait_idle(60)
    cards = [(GOOD_CARD, 987), (MASTERCARD, "4321"), (AMEX, 987), (DECLINED_CARD, 987), (INSUFFICIENT_CARD, 987)]
    for oid, (number, cvv) in zip(ids, cards, strict=False):
        body = {"creditCardDetails": {"number": number, "cvv": cvv, "expiry": "12/30"}}
        assert api.request("POST", f"/payments/pay/{oid}", json=body).status_code in (200, 402)
    bad = {"creditCardDetails": {"number": "4242 4242 4242 4241", "cvt": 987, "expiry": "12/30"}}  # Luhn fails
    assert api.request("POST", f"/payments/pay/{ids[5]}", json=bad).status_code == 422
    expired = {"creditCardDetails": {"number": GOOD_CARD, "cvc": "987", "expiry": "01/20"}}
    assert api.request("POST", f"/payments/pay/{ids[5]}", json=expired).status_code == 402
    again = {"creditCardDetails": {"number": GOOD_CARD, "cvt": 987, "expiry": "12/30"}}
    assert api.request("POST", f"/payments/pay/{ids[0]}", json=again).status_code == 409
    stack.inspect.wait_idle(60)

    problems: list[str] = []
    for lid in stack.model.functions:
        for n, line in enumerate(stack.function_logs(lid)):
            problems += findings(line, f"{lid} log line {n}")
    for seen in RECEIVED:
        if seen.url.split("?")[0] in ("/openapi.json", "/docs"):
            continue  # static documentation: its example card is the sandbox's documented test number
        problems += findings(seen.text, f"response {seen.method} {seen.url[:60]} ({seen.status})")
        problems += findings(repr(seen.headers), f"headers of {seen.method} {seen.url[:60]}")
    assert len(RECEIVED) > 100  # the whole suite's responses, not only this test's
    assert not problems, "\n".join(problems[:40])
