"""ReconcilerFunction: run on a schedule (template: ReconcileIntervalMinutes), it settles what no client
may ever come back for (payments.service.reconcile): claims past their lease, refunds not yet made."""

from datetime import timedelta
from typing import Any

from payments import service
from payments.processor import sandbox_processor
from payments.repository import PaymentsRepository
from platform_core.config import aws_client, require_env
from platform_core.observability import logger, metrics

dynamodb = aws_client("dynamodb")
deps = service.PaymentsDeps(
    PaymentsRepository(dynamodb, require_env("PAYMENTS_TABLE_NAME")), sandbox_processor(dynamodb)
)
# A payment still unsettled this long past its lease has outlived three runs: StaleUnsettledPaymentsAlarm.
STALE_AFTER = 3 * timedelta(minutes=int(require_env("RECONCILE_INTERVAL_MINUTES")))


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    cid = f"reconciler-{getattr(context, 'aws_request_id', 'local')}"
    outcomes = service.reconcile(deps, correlation_id=cid, stale_after=STALE_AFTER)
    logger.info("reconciler run", extra={"outcomes": dict(outcomes)})
    return dict(outcomes)
