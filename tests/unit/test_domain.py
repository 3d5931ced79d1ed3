"""The transition tables and the card sandbox: the business rules in one place."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from orders.domain import TRANSITIONS as ORDER_TRANSITIONS
from orders.domain import OrderStatus
from payments.cards import brand_of, luhn_valid, normalize_cvc, normalize_number, parse_expiry
from payments.domain import TRANSITIONS as PAYMENT_TRANSITIONS
from payments.domain import PaymentStatus
from payments.domain import sources as payment_sources
from payments.processor import Card, SandboxProcessor
from platform_core.money import Amount


def test_order_transitions_are_the_contracts():
    allowed = {(src.value, dst.value) for dst, sources in ORDER_TRANSITIONS.items() for src in sources}
    assert allowed == {
        ("created", "confirmed"),
        ("created", "declined"),
        ("created", "cancelled"),
        ("confirmed", "cancelled"),
        ("confirmed", "delivered"),
    }
    # Terminal statuses never move again.
    for terminal in (OrderStatus.DECLINED, OrderStatus.CANCELLED, OrderStatus.DELIVERED):
        assert all(terminal not in sources for sources in ORDER_TRANSITIONS.values())


def test_payment_transitions_are_the_contracts():
    allowed = {(src.value, dst.value) for dst, sources in PAYMENT_TRANSITIONS.items() for src in sources}
    assert allowed == {
        ("pending", "processing"),  # the claim: only its holder charges the card
        ("processing", "paid"),
        ("processing", "declined"),
        ("processing", "refunding"),  # cancelled while charging, charge approved: the refund is asked for
        ("processing", "voided"),  # cancelled, and the dead claim's charge never happened
        ("processing", "pending"),  # the dead claim's charge never happened: released for the next pay
        ("pending", "voided"),
        ("paid", "refunding"),
        ("refunding", "refunded"),  # only once the processor refunded
    }
    # Terminal statuses never move again.
    for terminal in (PaymentStatus.DECLINED, PaymentStatus.VOIDED, PaymentStatus.REFUNDED):
        assert all(terminal not in sources for sources in PAYMENT_TRANSITIONS.values())


def test_only_a_named_claim_leaves_processing():
    for target in PAYMENT_TRANSITIONS:
        assert PaymentStatus.PROCESSING not in payment_sources(target, leaving_claim=False)
        assert payment_sources(target, leaving_claim=True) <= {PaymentStatus.PROCESSING}
    # A cancel voiding a pending payment cannot void one that is being charged.
    assert payment_sources(PaymentStatus.VOIDED, leaving_claim=False) == {PaymentStatus.PENDING}


@pytest.mark.parametrize(
    ("number", "valid"),
    [("4242424242424242", True), ("4242424242424241", False), ("79927398713", True), ("4000000000000002", True)],
)
def test_luhn(number: str, valid: bool):
    assert luhn_valid(number) is valid


@pytest.mark.parametrize("raw", ["4242 4242 4242 4242", "4242-4242-4242-4242", "4242424242424242"])
def test_number_separators_are_allowed(raw: str):
    assert normalize_number(raw) == "4242424242424242"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "4242",
        "4242 4242 4242 4241",
        "4242_4242_4242_4242",
        "42424242424242424242",
        "4242424242424242\n",
        "4242424242424242".translate({ord("0") + i: 0xFF10 + i for i in range(10)}),
    ],
)
def test_bad_numbers_are_rejected(raw: str):
    with pytest.raises(ValueError, match=r"."):
        normalize_number(raw)


@pytest.mark.parametrize(("raw", "expected"), [(123, "123"), ("0123", "0123"), (" 456 ", "456")])
def test_cvc_forms(raw, expected):
    assert normalize_cvc(raw) == expected


@pytest.mark.parametrize("raw", [12, "12", "12345", "abc", True, "123\n", "\u0661\u0662\u0663"])
def test_bad_cvc(raw):
    with pytest.raises(ValueError, match=r"."):
        normalize_cvc(raw)


@pytest.mark.parametrize(
    ("raw", "month", "year"),
    [("12/30", 12, 2030), ("1/2031", 1, 2031), ("02/2029", 2, 2029), ("2/28/2030", 2, 2030), ("12/31/2030", 12, 2030)],
)
def test_expiry_formats(raw, month, year):
    expiry = parse_expiry(raw)
    assert (expiry.month, expiry.year) == (month, year)


@pytest.mark.parametrize(
    "raw", ["13/30", "0/30", "12-30", "2/30/2030", "12/3", "", "12/1999", "12/30\n", "\uff11\uff12/\uff13\uff10"]
)
def test_bad_expiry(raw):
    with pytest.raises(ValueError, match=r"."):
        parse_expiry(raw)


def test_card_is_valid_through_its_expiry_month():
    expiry = parse_expiry("11/26")
    assert not expiry.is_past(datetime(2026, 11, 30, 23, 0, tzinfo=UTC))
    assert expiry.is_past(datetime(2026, 12, 1, 0, 0, tzinfo=UTC))


class FixedClock(datetime):
    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        return datetime(2026, 11, 25, tzinfo=UTC)


@pytest.mark.parametrize(
    ("number", "expiry", "approved", "reason"),
    [
        ("4242424242424242", "12/30", True, None),
        ("4000000000000002", "12/30", False, "card_declined"),
        ("4000000000009995", "12/30", False, "insufficient_funds"),
        ("4242424242424242", "10/26", False, "expired_card"),
        ("4242424242424242", "11/26", True, None),
    ],
)
def test_sandbox_outcomes(number, expiry, approved, reason):
    result = SandboxProcessor(clock=FixedClock).charge(
        idempotency_key="o1", amount=Decimal(1), card=Card(number, "123", parse_expiry(expiry))
    )
    assert (result.approved, result.decline_reason) == (approved, reason)


def test_card_repr_hides_the_number():
    card = Card("4242424242424242", "123", parse_expiry("12/30"))
    assert "4242424242424242" not in repr(card)
    assert "123" not in repr(card)


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("5555555555554444", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3566002020360505", "jcb"),
        ("9999999999999995", "unknown"),
    ],
)
def test_brands(number, brand):
    assert brand_of(number) == brand


@pytest.mark.parametrize("good", [1, 0.01, 19.99, 1_000_000, 2000.5])
def test_amount_accepts(good):
    amount = TypeAdapter(Amount).validate_python(good)
    assert type(amount) is Decimal
    assert amount == Decimal(str(good))


@pytest.mark.parametrize("bad", [0, -1, 1_000_000.01, 0.001, "5", True, float("nan"), float("inf"), None])
def test_amount_rejects(bad):
    with pytest.raises(ValidationError):
        TypeAdapter(Amount).validate_python(bad)


@pytest.mark.parametrize(
    "written",
    ["2026-11-25T15:43:33.905292+00:00", "2026-11-25T15:43:33.905Z", "2026-11-25T16:43:33.905+01:00"],
)
def test_timestamps_leave_in_one_shape(written: str):
    from platform_core.clock import as_utc_iso

    assert as_utc_iso(written) == "2026-11-25T15:43:33.905Z"


@pytest.mark.parametrize(
    ("charged", "approved", "cancelled", "settled"),
    [
        (False, False, False, PaymentStatus.PENDING),
        (False, False, True, PaymentStatus.VOIDED),
        (True, True, False, PaymentStatus.PAID),
        (True, True, True, PaymentStatus.REFUNDING),
        (True, False, False, PaymentStatus.DECLINED),
        (True, False, True, PaymentStatus.DECLINED),
    ],
)
def test_a_dead_claim_settles_by_what_the_processor_holds(charged, approved, cancelled, settled):
    from payments.domain import settlement

    assert settlement(charged=charged, approved=approved, order_cancelled=cancelled) == settled
    assert PaymentStatus.PROCESSING in PAYMENT_TRANSITIONS[settled], "a settlement leaves processing"


def test_a_claim_is_dead_only_past_its_lease():
    from payments.domain import CLAIM_LEASE, claim_expired

    claimed = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert not claim_expired("2026-12-03T12:00:00.000Z", claimed + CLAIM_LEASE)
    assert claim_expired("2026-12-03T12:00:00.000Z", claimed + CLAIM_LEASE * 1.01)
    assert claim_expired("2026-12-03T12:00:00", claimed + CLAIM_LEASE * 2), "a naive time is UTC"
    assert claim_expired(None, claimed), "a claim without a time is nobody's live one"
