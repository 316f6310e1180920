"""Daily sync (EventBridge schedule): one sync job per plant on the sync queue.

The worker does the syncing, with bounded concurrency; this function only walks the plants
index a page at a time and sends jobs ten per request, so 10,000 plants take seconds here.
"""

from __future__ import annotations

import gc

gc.disable()  # no collections while the imports below run (powerfactor/runtime/gc_policy.py)

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from powerfactor.runtime import gc_policy, tracing
from powerfactor.sync import schedule

logger = Logger()
tracer = tracing.tracer()  # the X-Ray SDK only with EnableXRaySdk (powerfactor/runtime/tracing.py)
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)  # never the event, whatever POWERTOOLS_LOGGER_LOG_EVENT says
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    queued = schedule.queue_daily_sync()
    metrics.add_metric(name="DailySyncJobsQueued", unit=MetricUnit.Count, value=queued)
    logger.info("daily sync queued", extra={"plants": queued})
    return {"queued": queued}


gc_policy.imports_done()
