"""Sync worker: one sync job (one plant) per SQS message, within the Lambda's time budget.

A run cut short by the time budget is queued again as a continuation (its progress is saved on
the plant); a run the monitoring service failed is reported as a failed item, so SQS retries it
later and, after the queue's maxReceiveCount, moves it to the dead-letter queue. A failed job (the
service, or DynamoDB, failed it) comes back after a short backoff growing with its receives
(`jobs.retry_later`), not after the queue's visibility timeout. The run's lease is owned by the
message, so a job that comes back takes over a lease its failed run could not release. A `resync`
job (powerfactor.sync.resync) fetches its range again; a plant busy syncing gets it back a minute later,
and one cut by the time budget is queued again for the rest of its range.
"""

from __future__ import annotations

import gc

gc.disable()  # no collections while the imports below run (powerfactor/runtime/gc_policy.py)

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from powerfactor.runtime import gc_policy, tracing
from powerfactor.runtime.settings import get_settings
from powerfactor.sync import jobs, resync
from powerfactor.sync.run import sync_plant
from powerfactor.sync.vendor import MonitoringClient

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

logger = Logger()
tracer = tracing.tracer()  # the X-Ray SDK only with EnableXRaySdk (powerfactor/runtime/tracing.py)
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
gc_policy.fewer_young_collections()  # this process runs syncs


class SyncFailed(Exception):
    """The monitoring service failed this plant's sync: let SQS retry the message later."""


def record_handler(record: SQSRecord) -> None:
    try:
        run_job(record)
    except Exception:
        receives = int(record.attributes.approximate_receive_count or 1)
        delay = jobs.retry_later(record.receipt_handle, receives)
        logger.warning("sync job failed", extra={"receives": receives, "back_in_s": delay})
        raise


def run_job(record: SQSRecord) -> None:
    job = jobs.SyncJob.model_validate_json(record.body)
    owner = f"sqs:{record.message_id}"
    context = processor.lambda_context
    settings = get_settings()
    client = MonitoringClient(
        settings.monitoring_url,
        read_timeout=settings.monitoring_read_timeout,
        max_response_bytes=settings.monitoring_max_response_bytes,
        remaining_ms=context.get_remaining_time_in_millis if context else None,
    )
    if job.reason == "resync" and job.start and job.end:
        outcome = resync.run(job.plant_id, client, job.start, job.end, owner=owner)
        metrics.add_metric(name=f"Resync{outcome.status.capitalize()}", unit=MetricUnit.Count, value=1)
        if outcome.status == "busy":  # the plant is syncing: again a minute later
            jobs.enqueue([job], delay_seconds=resync.BUSY_DELAY_SECONDS)
        elif outcome.status == "partial":  # time ran out: the rest of the range, at once
            jobs.enqueue([job.model_copy(update={"start": outcome.resume_from or job.start})])
        elif outcome.status == "failed":
            raise SyncFailed(f"plant {job.plant_id} re-sync: {outcome.error}")
        return
    outcome = sync_plant(job.plant_id, client, owner=owner)
    metrics.add_metric(name=f"Sync{outcome.status.capitalize()}", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="HoursStored", unit=MetricUnit.Count, value=outcome.hours_stored)
    if outcome.status == "partial":
        jobs.enqueue([jobs.SyncJob(plant_id=job.plant_id, reason="continue")])
    elif outcome.status == "failed":
        raise SyncFailed(f"plant {job.plant_id}: {outcome.error}")


@logger.inject_lambda_context(log_event=False)  # never the event, whatever POWERTOOLS_LOGGER_LOG_EVENT says
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )


gc_policy.imports_done()
