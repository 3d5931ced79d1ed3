"""Races, property-based: concurrent creates, pays, cancels and duplicate deliveries across users settle
in states the contract allows, and no order is ever charged twice."""

from __future__ import annotations

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devstack import LocalStack
from tests.resilience.support import DECLINED_CARD, GOOD_CARD, INSUFFICIENT_CARD, Api, check_invariants, publish
from tests.resilience.support import user_api as new_user
from tests.resilience.test_duplicates import _tap, _tapped

PROFILE = settings.get_profile("resilience")

ACTIONS = ("pay", "pay_declined", "cancel")
ALLOWED = {"pay": {200, 402, 404, 409}, "pay_declined": {200, 402, 404, 409}, "cancel": {200, 409}}


@dataclass
class Script:
    user: int
    wait_for_payment: bool
    steps: list[list[str]]  # each step: actions sent at once


@dataclass
class Outcome:
    order_id: str = ""
    user: str = ""
    responses: list[tuple[str, int]] = field(default_factory=list)


scripts = st.lists(
    st.builds(
        Script,
        user=st.integers(0, 2),
        wait_for_payment=st.booleans(),
        steps=st.lists(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=3), min_size=1, max_size=3),
    ),
    min_size=2,
    max_size=5,
)


class Duplicator:
    """Republishes a copy of every event the outbox publishes, racing the original."""

    def __init__(self, stack: LocalStack, tap: str) -> None:
        self.stack, self.tap = stack, tap
        self.seen: set[str] = set()
        self.copies = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def pump(self) -> int:
        topic = {"orders": "OrdersTopic", "payments": "PaymentsTopic"}
        n = 0
        for e in _tapped(self.stack, self.tap):
            if e["id"] in self.seen:
                continue  # our own copy coming back through the tap
            self.seen.add(e["id"])
            publish(self.stack, topic[e["source"]], e["type"], json.dumps(e))
            n += 1
        self.copies += n
        return n

    def run(self) -> None:
        while not self.stop.is_set():
            self.pump()
            self.stop.wait(0.05)

    def __enter__(self) -> Duplicator:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


@pytest.fixture(scope="module")
def tap(stack: LocalStack) -> str:
    return _tap(stack)


def _run_script(api: Api, script: Script, out: Outcome, pool: ThreadPoolExecutor) -> None:
    resp = api.create(bill=25)
    assert resp.status_code == 201, resp.text
    out.order_id = resp.json()["data"]["id"]
    out.user = resp.json()["data"]["userId"]
    if script.wait_for_payment:
        for _ in range(200):
            if api.payment(out.order_id).status_code == 200:
                break
    for step in script.steps:
        calls = {
            "pay": lambda: api.pay(out.order_id, GOOD_CARD),
            "pay_declined": lambda: api.pay(out.order_id, DECLINED_CARD),
            "cancel": lambda: api.cancel(out.order_id),
        }
        futures = [(a, pool.submit(calls[a])) for a in step]
        for action, fut in futures:
            out.responses.append((action, fut.result().status_code))


def _check_outcome(script: Script, out: Outcome, final: dict[tuple[str, str, str], str]) -> None:
    (order_status, payment_status), *_ = [(k[2], v) for k, v in final.items() if k[1] == out.order_id]
    codes = Counter(out.responses)
    for action, status in out.responses:
        assert status in ALLOWED[action], (action, status, out)
    charged = codes[("pay", 200)] + codes[("pay_declined", 200)]
    declined = codes[("pay", 402)] + codes[("pay_declined", 402)]
    assert codes[("pay_declined", 200)] == 0 and codes[("pay", 402)] == 0, out
    assert charged + declined <= 1, f"charged twice: {out}"
    if charged:
        assert (order_status, payment_status) in {("delivered", "paid"), ("cancelled", "refunded")}, out
    elif declined:
        assert payment_status == "declined" and order_status in ("declined", "cancelled"), out
    else:
        assert (order_status, payment_status) in {("created", "pending"), ("cancelled", "voided")}, out
    if codes[("cancel", 200)]:
        assert order_status == "cancelled", out
    if codes[("cancel", 409)]:
        assert order_status in ("declined", "delivered"), out


@settings(PROFILE, max_examples=10)
@given(plan=scripts)
def test_interleavings_settle_as_the_contract_says(stack: LocalStack, tap: str, plan: list[Script]):
    users = [new_user(stack, f"race{i}") for i in range(3)]
    outcomes = [Outcome() for _ in plan]
    _tapped(stack, tap)  # events of earlier tests are not ours to copy
    with Duplicator(stack, tap) as dup, ThreadPoolExecutor(16) as inner, ThreadPoolExecutor(len(plan)) as outer:
        futures = [outer.submit(_run_script, users[s.user], s, o, inner) for s, o in zip(plan, outcomes, strict=True)]
        for f in futures:
            f.result()
        stack.inspect.wait_idle(60)
    while dup.pump():  # the last copies, then quiet again
        stack.inspect.wait_idle(60)
    assert dup.copies > 0
    final = check_invariants(stack)
    for script, out in zip(plan, outcomes, strict=True):
        _check_outcome(script, out, final)
    # Nobody sees another user's order through any route.
    for out in outcomes:
        for other in users:
            if _sub(other) != out.user:
                assert other.order(out.order_id).status_code == 404
                assert other.payment(out.order_id).status_code == 404


def _sub(api: Api) -> str:
    import jwt

    return str(jwt.decode(api.token, options={"verify_signature": False})["sub"])


@settings(PROFILE, max_examples=6)
@given(cards=st.lists(st.sampled_from([GOOD_CARD, DECLINED_CARD, INSUFFICIENT_CARD]), min_size=3, max_size=6))
def test_pay_against_cancel_settles_one_way_or_the_other(stack: LocalStack, cards: list[str]):
    api = new_user(stack, "paycancel")
    ids = [api.create_id() for _ in cards]
    stack.inspect.wait_idle(60)
    with ThreadPoolExecutor(2 * len(cards)) as pool:
        pays = [pool.submit(api.pay, oid, card) for oid, card in zip(ids, cards, strict=True)]
        cancels = [pool.submit(api.cancel, oid) for oid in ids]
        pay_codes = [f.result().status_code for f in pays]
        cancel_codes = [f.result().status_code for f in cancels]
    stack.inspect.wait_idle(60)
    final = {k[1]: (k[2], v) for k, v in check_invariants(stack).items()}
    for oid, card, pay, cancel in zip(ids, cards, pay_codes, cancel_codes, strict=True):
        settled = final[oid]
        if card == GOOD_CARD:
            assert settled in {("delivered", "paid"), ("cancelled", "refunded"), ("cancelled", "voided")}, settled
            assert (pay == 200) == (settled[1] != "voided"), (pay, settled)
        else:
            assert settled in {("declined", "declined"), ("cancelled", "declined"), ("cancelled", "voided")}
            assert (pay == 402) == (settled[1] == "declined"), (pay, settled)
        assert (cancel == 200) == (settled[0] == "cancelled"), (cancel, settled)
