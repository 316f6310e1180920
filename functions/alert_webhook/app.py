"""Alert webhooks: POST each event from a webhook queue to its webhook, signed.

Two functions run this code (WEBHOOK_TARGET): AlertWebhookFunction delivers every event to
AlertWebhookUrl with AlertWebhookSecret; AccountWebhookFunction delivers each event to the webhook
of its account (the event's `detail.account_id`; powerfactor.access.notifications) with that
account's secret, and drops the event of an account without one.

The bus's rule puts every alert event on AlertWebhookQueue; each message's body (the event, as
EventBridge wrote it) is POSTed as it is, with a timestamp and an HMAC-SHA256 signature
(powerfactor.alerts.webhook). A delivery that did not get a 2xx is a failed item: SQS hands it
out again after the queue's visibility timeout, signed afresh, and after maxReceiveCount moves
it to AlertWebhookDeadLetterQueue (its alarm tells the operator). Neither the secret nor the
event's body is logged.
"""

from __future__ import annotations

import gc

gc.disable()  # no collections while the imports below run (powerfactor/runtime/gc_policy.py)

import json
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from powerfactor.alerts import webhook
from powerfactor.runtime import gc_policy, tracing
from powerfactor.runtime.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

logger = Logger()
tracer = tracing.tracer()  # the X-Ray SDK only with EnableXRaySdk (powerfactor/runtime/tracing.py)
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
session = webhook.new_session()  # kept warm: one connection pool per execution environment


def _account_webhook(body: str) -> tuple[str, tuple[str, list[str]] | None]:
    """The event's account and that account's webhook (None: it has none)."""
    from powerfactor.access import notifications  # the accounts table: only this function's path

    try:
        account = str(json.loads(body)["detail"]["account_id"])
    except (ValueError, KeyError, TypeError):
        return "", None
    return account, notifications.webhook_for(account)


def record_handler(record: SQSRecord) -> None:
    settings = get_settings()
    receives = record.attributes.approximate_receive_count
    who: dict[str, str] = {}
    if settings.webhook_target == "account":
        account, target = _account_webhook(record.body)
        if target is None:
            metrics.add_metric(name="WebhookSkipped", unit=MetricUnit.Count, value=1)
            logger.info("no webhook for the event's account", extra={"account_id": account})
            return
        url, secrets = target
        who = {"account_id": account}
    else:
        url, secrets = settings.webhook
    try:
        status = webhook.deliver(url, secrets, record.body.encode(), session)
    except webhook.DeliveryFailed as error:
        metrics.add_metric(name="WebhookFailed", unit=MetricUnit.Count, value=1)
        logger.warning("webhook delivery failed", extra={"why": str(error), "receives": receives, **who})
        raise
    metrics.add_metric(name="WebhookDelivered", unit=MetricUnit.Count, value=1)
    logger.info("webhook delivered", extra={"status": status, "receives": receives, **who})


@logger.inject_lambda_context(log_event=False)  # never the event, whatever POWERTOOLS_LOGGER_LOG_EVENT says
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )


gc_policy.imports_done()
