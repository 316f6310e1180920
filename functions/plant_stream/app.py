"""Plants table stream: a new plant gets a backfill job on the sync queue; a deleted one loses its data.

The template's FilterCriteria lets only INSERT and REMOVE records of plant items through.
Enqueueing (instead of syncing here) means a burst of new plants is backfilled in parallel by
the sync worker, within its concurrency limit, instead of one after another on a stream shard.
"""

from __future__ import annotations

import gc

gc.disable()  # no collections while the imports below run (powerfactor/runtime/gc_policy.py)

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from powerfactor.runtime import gc_policy, tracing
from powerfactor.sync import lifecycle

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

logger = Logger()
tracer = tracing.tracer()  # the X-Ray SDK only with EnableXRaySdk (powerfactor/runtime/tracing.py)
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def _plant_id(record: DynamoDBRecord) -> int:
    stream = record.dynamodb
    if stream is None:  # DynamoDB Streams always sends it: a record without one fails alone
        raise ValueError(f"stream record {record.event_id} has no `dynamodb`")
    image = stream.new_image or stream.old_image
    return int(image["plant_id"])


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    plant_id = _plant_id(record)
    if record.event_name == DynamoDBRecordEventName.INSERT:
        lifecycle.queue_backfill(plant_id)
        metrics.add_metric(name="BackfillsQueued", unit=MetricUnit.Count, value=1)
        logger.info("backfill queued", extra={"plant_id": plant_id})
    elif record.event_name == DynamoDBRecordEventName.REMOVE:
        removed = lifecycle.purge_plant(plant_id)
        metrics.add_metric(name="DatapointItemsPurged", unit=MetricUnit.Count, value=removed)
        logger.info("deleted plant's data removed", extra={"plant_id": plant_id, "items": removed})


@logger.inject_lambda_context(log_event=False)  # never the event, whatever POWERTOOLS_LOGGER_LOG_EVENT says
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )


gc_policy.imports_done()
