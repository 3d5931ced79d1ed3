"""Pydantic models at the API edge (they also generate the OpenAPI document)."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from payments.cards import (
    CVC_INTEGERS,
    CVC_PATTERN,
    EXPIRY_PATTERN,
    NUMBER_PATTERN,
    normalize_cvc,
    normalize_number,
    parse_expiry,
)
from payments.domain import PaymentStatus
from platform_core.money import Money

CVC_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": CVC_PATTERN},
        {"type": "integer", "minimum": CVC_INTEGERS[0], "maximum": CVC_INTEGERS[1]},
    ]
}


class CreditCardDetails(BaseModel):
    """The original system's shape. The number and CVV are used once and never kept."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    # The validators below are the rules; the schemas say the same to clients (payments.cards' patterns).
    number: str = Field(
        description="12 to 19 digits, spaces and dashes allowed, Luhn-valid.",
        examples=["4242 4242 4242 4242"],
        json_schema_extra={"pattern": NUMBER_PATTERN, "format": "card-number"},
    )
    cvt: Annotated[str, WithJsonSchema(CVC_SCHEMA)] = Field(
        description="CVV: 3 or 4 digits, a string or a number (also accepted as `cvv` or `cvc`).",
        examples=["123", 123],
    )
    expiry: str = Field(
        description="MM/YY, MM/YYYY or M/D/YYYY (a real date), years 2000 to 2199.",
        examples=["12/30"],
        json_schema_extra={"pattern": EXPIRY_PATTERN},
    )

    @model_validator(mode="before")
    @classmethod
    def accept_cvv_names(cls, data: Any) -> Any:
        if isinstance(data, dict) and "cvt" not in data:
            for alias in ("cvv", "cvc"):
                if alias in data:
                    return {**data, "cvt": data[alias]}
        return data

    @field_validator("number", mode="before")
    @classmethod
    def check_number(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a string of digits")
        return normalize_number(value)

    @field_validator("cvt", mode="before")
    @classmethod
    def check_cvt(cls, value: Any) -> str:
        if not isinstance(value, str | int):
            raise ValueError("must be 3 or 4 digits")
        return normalize_cvc(value)

    @field_validator("expiry", mode="before")
    @classmethod
    def check_expiry(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a string like 12/30")
        parse_expiry(value)
        return value.strip(" ")


class PayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    creditCardDetails: CreditCardDetails  # noqa: N815 - the original system's field name


class CardSummary(BaseModel):
    brand: str
    last4: str


class Payment(BaseModel):
    orderId: str  # noqa: N815 - the contract's field names
    userId: str  # noqa: N815
    bill: Money
    status: PaymentStatus
    card: CardSummary | None
    declineReason: str | None  # noqa: N815
    createdAt: str  # noqa: N815
    updatedAt: str  # noqa: N815


class PaymentRecord(Payment):
    """A PaymentsTable item: the payment and what only the service needs (PaymentsRepository maps it)."""

    correlationId: str = ""  # noqa: N815
    claimId: str | None = None  # noqa: N815 - the claim that may charge the card (status processing)
    claimedAt: str | None = None  # noqa: N815
    # The order was cancelled while the claim was live: whoever settles the claim settles it as cancelled.
    cancelRequested: bool = False  # noqa: N815

    def public(self) -> Payment:
        return Payment.model_validate(self.model_dump(include=set(Payment.model_fields)))


class PaymentResponse(BaseModel):
    data: Payment


class PaymentPage(BaseModel):
    data: list[Payment]
    nextToken: str | None = Field(description="Pass back to get the next page; null on the last page.")  # noqa: N815


class DeclinedPayment(BaseModel):
    """402 problem details carrying the declined payment."""

    type: str
    title: str
    status: int
    detail: str
    payment: Payment
