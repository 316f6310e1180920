"""Sync jobs: what the daily sync and the plants stream put on the sync queue for the worker.

A job whose run failed comes back after `retry_delay(receives)` seconds (`retry_later` changes
the message's visibility), growing with each receive, instead of after the queue's 30-minute
visibility timeout: a fault of a few seconds (DynamoDB hanging, the service down a moment)
costs seconds, one that lasts still reaches the dead-letter queue after maxReceiveCount.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, Literal

import boto3
from aws_lambda_powertools import Logger
from pydantic import BaseModel

from powerfactor.runtime.settings import Settings, get_settings

logger = Logger(child=True)

RETRY_FIRST_SECONDS = 20  # after the first failed receive; x RETRY_FACTOR per receive since
RETRY_FACTOR = 4  # five receives span ~28 minutes: a short fault costs seconds, an outage still waits
RETRY_MAX_SECONDS = 1800  # the queue's visibility timeout: never later than without a backoff


class SyncJob(BaseModel):
    """Sync one plant. `reason` is for logs: `created` (the plants stream), `daily` (the daily
    sync), `continue` (a run cut short by the time budget), `manual` (a job sent by hand, as
    `events/sync-job.json` is for `sam local invoke`), `resync` (fetch [start, end) again and
    store it: powerfactor.sync.resync)."""

    plant_id: int
    reason: Literal["created", "daily", "continue", "manual", "resync"]
    start: date | None = None  # resync only
    end: date | None = None  # resync only, exclusive


_client: tuple[Settings, Any] | None = None


def _sqs(settings: Settings) -> Any:
    """The SQS client for these settings, created on first use and kept while they hold."""
    global _client
    if _client is None or _client[0] is not settings:
        _client = (
            settings,
            boto3.client("sqs", endpoint_url=settings.sqs_endpoint, region_name=settings.region),
        )
    return _client[1]


def enqueue(jobs: Iterable[SyncJob], delay_seconds: int = 0) -> int:
    """Send jobs to the sync queue, ten per request; entries SQS refuses are sent again.
    `delay_seconds` (up to 900) keeps them invisible that long."""
    settings = get_settings()
    if settings.sync_queue_url is None:
        raise RuntimeError("SYNC_QUEUE_URL is not set")
    client = _sqs(settings)
    delay = {"DelaySeconds": delay_seconds} if delay_seconds else {}
    sent = 0
    batch: list[SyncJob] = []

    def flush() -> None:
        nonlocal sent
        entries = {str(i): job.model_dump_json(exclude_none=True) for i, job in enumerate(batch)}
        for _ in range(5):
            response = client.send_message_batch(
                QueueUrl=settings.sync_queue_url,
                Entries=[{"Id": key, "MessageBody": body, **delay} for key, body in entries.items()],
            )
            sent += len(response.get("Successful", []))
            entries = {f["Id"]: entries[f["Id"]] for f in response.get("Failed", [])}
            if not entries:
                break
        if entries:
            raise RuntimeError(f"SQS refused {len(entries)} sync jobs five times")
        batch.clear()

    for job in jobs:
        batch.append(job)
        if len(batch) == 10:
            flush()
    if batch:
        flush()
    return sent


def retry_delay(receives: int) -> int:
    """Seconds before a job that failed its `receives`-th delivery comes back: 20, 80, 320, 1280
    (then at most `RETRY_MAX_SECONDS`)."""
    return min(RETRY_FIRST_SECONDS * RETRY_FACTOR ** max(0, receives - 1), RETRY_MAX_SECONDS)


def retry_later(receipt_handle: str, receives: int) -> int | None:
    """Have a failed job's message come back after `retry_delay(receives)`: the delay, or None if
    SQS refused (then it comes back after the visibility timeout). Never raises."""
    settings = get_settings()
    delay = retry_delay(receives)
    try:
        _sqs(settings).change_message_visibility(
            QueueUrl=settings.sync_queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=delay
        )
    except Exception as error:  # the visibility timeout still brings it back
        logger.warning("could not shorten a failed job's wait", extra={"error": repr(error)})
        return None
    return delay
