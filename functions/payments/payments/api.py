"""Payments API: thin handlers over the service layer. Every payments route's function runs this module."""

import dataclasses
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from payments import service
from payments.cards import parse_expiry
from payments.fingerprint import FingerprintKeyUnavailableError, card_fingerprint
from payments.models import DeclinedPayment, PaymentPage, PaymentResponse, PayRequest
from payments.processor import Card, sandbox_processor
from payments.repository import PaymentsRepository
from platform_core.api import IdempotencyKey, caller_id, correlation_id, json_response, make_resolver
from platform_core.config import aws_client, require_env
from platform_core.idempotency import KeyedRequest, reserve, run_once
from platform_core.observability import logger, metrics
from platform_core.problems import PROBLEM_JSON, ProblemError, RetryLaterError, problem_body, problem_doc

app = make_resolver(logger)
dynamodb = aws_client("dynamodb")
repo = PaymentsRepository(dynamodb, require_env("PAYMENTS_TABLE_NAME"))
deps = service.PaymentsDeps(repo, sandbox_processor(dynamodb))

OrderId = Annotated[str, Path(min_length=1, max_length=64, description="The order the payment is for.")]


@app.get(
    "/payments",
    summary="List my payments, newest first",
    tags=["payments"],
    responses={
        200: {"description": "A page of payments.", "content": {"application/json": {"model": PaymentPage}}},
        **problem_doc(400, "Invalid limit or nextToken."),
    },
)
def list_payments(
    limit: Annotated[int, Query(ge=1, le=100, description="Page size, 1..100.")] = 20,
    nextToken: Annotated[str | None, Query(max_length=512, description="From the previous page.")] = None,  # noqa: N803
) -> Response[PaymentPage]:
    payments, token = service.list_payments(repo, caller_id(app), limit, nextToken)
    return json_response(200, {"data": [p.model_dump(mode="json") for p in payments], "nextToken": token})


@app.get(
    "/payments/<orderId>",
    summary="Get the payment of one of my orders",
    tags=["payments"],
    responses={
        200: {"description": "The payment.", "content": {"application/json": {"model": PaymentResponse}}},
        **problem_doc(404, "No payment for that order (yet)."),
    },
)
def get_payment(orderId: OrderId) -> Response[PaymentResponse]:  # noqa: N803
    try:
        payment = service.get_payment(repo, caller_id(app), orderId)
    except service.PaymentNotFoundError:
        raise ProblemError(404, "No payment for that order.") from None
    return json_response(200, {"data": payment.model_dump(mode="json")})


@app.post(
    "/payments/pay/<orderId>",
    summary="Pay for one of my orders with a card",
    tags=["payments"],
    responses={
        200: {"description": "Paid.", "content": {"application/json": {"model": PaymentResponse}}},
        402: {"description": "The card was declined.", "content": {PROBLEM_JSON: {"model": DeclinedPayment}}},
        **problem_doc(400, "The body is not JSON, or the Idempotency-Key header is invalid."),
        **problem_doc(404, "No payment for that order (yet)."),
        **problem_doc(409, "The payment is not pending, or the Idempotency-Key was used with another body."),
        **problem_doc(422, "Malformed card details."),
    },
)
def pay(
    orderId: OrderId,  # noqa: N803
    body: Annotated[PayRequest, Body()],
    idempotency_key: IdempotencyKey = None,
) -> Response[PaymentResponse]:
    user_id = caller_id(app)
    details = body.creditCardDetails
    card = Card(number=details.number, cvc=details.cvt, expiry=parse_expiry(details.expiry))
    cid = correlation_id(app)
    key = idempotency_key
    try:
        # "The same request": the whole card, as a keyed hash (never the number or the CVV).
        keyed = (
            KeyedRequest(("pay", orderId), user_id, key, {"orderId": orderId, "card": card_fingerprint(card)})
            if key is not None
            else None
        )
    except FingerprintKeyUnavailableError:
        logger.warning("the card fingerprint key could not be read")
        raise RetryLaterError from None

    def operation() -> tuple[int, dict[str, Any], dict[str, str]]:
        # A request with a key claims under the claim its key reserved: repeated after a lost answer, it
        # finds its own claim or result instead of someone else's.
        claimed = deps
        if keyed is not None:
            claim = reserve(keyed, {"claim": deps.claims()})["claim"]
            claimed = dataclasses.replace(deps, claims=lambda: claim)
        try:
            payment = service.pay(claimed, user_id=user_id, order_id=orderId, card=card, correlation_id=cid)
        except service.PaymentDeclinedError as declined:
            detail = f"The card was declined: {declined.payment.declineReason}."
            return 402, problem_body(402, detail, payment=declined.payment.model_dump(mode="json")), {}
        return 200, {"data": payment.model_dump(mode="json")}, {}

    try:
        status, payload, headers = run_once(keyed, operation, app.lambda_context)
    except service.PaymentNotFoundError:
        raise ProblemError(404, "No payment for that order.") from None
    except service.PaymentConflictError as conflict:
        raise ProblemError(409, f"The payment is {conflict.payment.status}, not pending.") from None
    if status == 402:
        raise ProblemError(402, payload["detail"], payment=payload["payment"])
    return json_response(status, payload, headers)


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
