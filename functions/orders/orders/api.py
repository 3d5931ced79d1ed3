"""Orders API: thin handlers over the service layer. Every orders route's function runs this module."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponseHeader

from orders import service
from orders.models import CreateOrderRequest, OrderPage, OrderResponse
from orders.repository import OrdersRepository
from platform_core.api import IdempotencyKey, caller_id, correlation_id, json_response, make_resolver
from platform_core.config import aws_client, require_env
from platform_core.idempotency import KeyedRequest, reserve, run_once
from platform_core.observability import logger, metrics
from platform_core.problems import ProblemError, problem_doc

app = make_resolver(logger)
repo = OrdersRepository(aws_client("dynamodb"), require_env("ORDERS_TABLE_NAME"))

CREATE_SCOPE = ("create-order",)
LOCATION: OpenAPIResponseHeader = {
    "description": "The new order's URL: `/{stage}/orders/{id}`.",
    "schema": {"type": "string", "examples": ["/api/orders/01JDZ8Q6J3V0YB3W9T5KCN2E4M"]},
}
OrderId = Annotated[str, Path(min_length=1, max_length=64, description="The order's id.")]


@app.post(
    "/orders",
    summary="Place an order",
    tags=["orders"],
    responses={
        201: {
            "description": "The order, status created.",
            "headers": {"Location": LOCATION},
            "content": {"application/json": {"model": OrderResponse}},
        },
        **problem_doc(400, "The body is not JSON, or the Idempotency-Key header is invalid."),
        **problem_doc(409, "Idempotency-Key reused with another body."),
        **problem_doc(422, "Invalid bill."),
    },
)
def create_order(
    body: Annotated[CreateOrderRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[OrderResponse]:
    user_id = caller_id(app)
    cid = correlation_id(app)
    key = idempotency_key
    keyed = KeyedRequest(CREATE_SCOPE, user_id, key, body.model_dump()) if key is not None else None

    def operation() -> tuple[int, dict[str, Any], dict[str, str]]:
        identity = service.new_identity()
        if keyed is not None:
            identity = reserve(keyed, identity)
        order = service.create_order(repo, user_id, body.bill, cid, identity)
        location = f"/{app.current_event.request_context.stage}/orders/{order.id}"
        return 201, {"data": order.model_dump()}, {"Location": location}

    status, payload, headers = run_once(keyed, operation, app.lambda_context)
    return json_response(status, payload, headers)


@app.get(
    "/orders",
    summary="List my orders, newest first",
    tags=["orders"],
    responses={
        200: {"description": "A page of orders.", "content": {"application/json": {"model": OrderPage}}},
        **problem_doc(400, "Invalid limit or nextToken."),
    },
)
def list_orders(
    limit: Annotated[int, Query(ge=1, le=100, description="Page size, 1..100.")] = 20,
    nextToken: Annotated[str | None, Query(max_length=512, description="From the previous page.")] = None,  # noqa: N803
) -> Response[OrderPage]:
    orders, token = service.list_orders(repo, caller_id(app), limit, nextToken)
    return json_response(200, {"data": [o.model_dump() for o in orders], "nextToken": token})


@app.get(
    "/orders/<orderId>",
    summary="Get one of my orders",
    tags=["orders"],
    responses={
        200: {"description": "The order.", "content": {"application/json": {"model": OrderResponse}}},
        **problem_doc(404, "No such order."),
    },
)
def get_order(orderId: OrderId) -> Response[OrderResponse]:  # noqa: N803
    try:
        order = service.get_order(repo, caller_id(app), orderId)
    except service.OrderNotFoundError:
        raise ProblemError(404, "No such order.") from None
    return json_response(200, {"data": order.model_dump()})


@app.delete(
    "/orders/<orderId>",
    summary="Cancel one of my orders",
    tags=["orders"],
    responses={
        200: {
            "description": "The cancelled order (also when it was cancelled already).",
            "content": {"application/json": {"model": OrderResponse}},
        },
        **problem_doc(404, "No such order."),
        **problem_doc(409, "The order is declined or delivered."),
    },
)
def cancel_order(orderId: OrderId) -> Response[OrderResponse]:  # noqa: N803
    try:
        order = service.cancel_order(repo, caller_id(app), orderId, correlation_id(app))
    except service.OrderNotFoundError:
        raise ProblemError(404, "No such order.") from None
    except service.OrderConflictError as conflict:
        raise ProblemError(409, f"An order that is {conflict.order.status} cannot be cancelled.") from None
    return json_response(200, {"data": order.model_dump()})


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
