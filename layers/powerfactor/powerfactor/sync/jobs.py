"""Sync jobs: what the daily sync and the plants stream put on the sync queue for the worker."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, Literal

import boto3
from pydantic import BaseModel

from powerfactor.runtime.settings import Settings, get_settings


class SyncJob(BaseModel):
    """Sync one plant. `reason` is for logs: `created` (the plants stream), `daily` (the daily
    sync), `continue` (a run cut short by the time budget), `manual` (a job sent by hand, as
    `events/sync-job.json` is for `sam local invoke`), `resync` (fetch [start, end) again and
    mirror it: powerfactor.sync.resync)."""

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
