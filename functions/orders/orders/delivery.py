"""Starts the delivery state machine for a confirmed order; the execution is named after the order."""

import json
from typing import TYPE_CHECKING

from platform_core.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


class StepFunctionsDeliveryScheduler:
    def __init__(self, client: "SFNClient", state_machine_arn: str) -> None:
        self.client = client
        self.state_machine_arn = state_machine_arn

    def schedule(self, user_id: str, order_id: str, correlation_id: str) -> None:
        try:
            self.client.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=order_id,  # at most one execution per order, however often this runs
                input=json.dumps({"userId": user_id, "orderId": order_id, "correlationId": correlation_id}),
            )
        except self.client.exceptions.ExecutionAlreadyExists:
            logger.info("delivery already scheduled", extra={"order_id": order_id})
            return
        logger.info("delivery scheduled", extra={"order_id": order_id})
