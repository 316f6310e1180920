"""Re-sync of a range: fetch [from, to] again and make the store mirror what the service says now.

`request()` (POST /api/solar-plant/plant/{plant_id}/sync) checks the range (whole UTC days, both
inclusive, from the horizon to yesterday, and not before the plant's `commissioned_on`: the sync
never asks for days before it, so such a range is refused, 422 `invalid_range`, not clamped),
records it on the plant as its pending re-sync (one
per plant: a conditional write, so a second request gets ResyncPending, 409) and queues a
`resync` job on the sync queue, the daily sync's own queue and workers: it shares their
concurrency and waits its turn behind them. A pending re-sync whose attempts all failed (it
is dead-lettered) stops blocking new requests `STALE_AFTER` after it was requested.

`run()` (the sync worker) takes the plant's sync lease like any run (a plant busy syncing gets
the job back `BUSY_DELAY_SECONDS` later), marks it `running`, fetches the range a month at a
time and replaces each day whole (`datapoints.replace_days`): corrected values overwrite what is
stored, and hours the service no longer has are **removed**, so the store mirrors the service.
A run stopped by the time budget says where it got to (`resume_from`, the end of its last
replaced month): the worker queues the rest of the range, so a range longer than one run's
budget still finishes instead of starting over each time.
Days left incomplete join the plant's `missing_days` (the daily sync asks for them again),
complete ones leave it. On success the re-sync is cleared from the plant; on a failure it goes
back to `pending` with its error, and SQS retries the job. Then the plant's alerts are judged.
"""

from __future__ import annotations

import uuid
from contextlib import closing
from datetime import UTC, date, datetime, timedelta

from aws_lambda_powertools import Logger

from powerfactor import alerts, jobs
from powerfactor.errors import InvalidRange, PlantNotFound, ResyncPending
from powerfactor.models import Resync
from powerfactor.monitoring import MonitoringClient, MonitoringError, TimeBudgetExhausted, utc_today
from powerfactor.settings import get_settings
from powerfactor.storage import datapoints, plants
from powerfactor.sync import LEASE_SECONDS, SyncOutcome, horizon

logger = Logger(child=True)

STALE_AFTER = timedelta(hours=6)  # longer than SQS's five receives 30 minutes apart
BUSY_DELAY_SECONDS = 60


def request(plant_id: int, start: date, last: date, today: date | None = None) -> Resync:
    """Queue a re-sync of [start, last]; InvalidRange, PlantNotFound or ResyncPending."""
    today = today or utc_today()
    oldest = horizon(today, get_settings().sync_until_year)
    if start > last:
        raise InvalidRange("`from` is after `to`")
    if start < oldest:
        raise InvalidRange(f"`from` is before the horizon, {oldest} (SyncUntilYear)")
    if last >= today:
        raise InvalidRange(f"`to` must be before today, {today} (the service has no complete day after it)")
    commissioned = plants.get_plant(plant_id).commissioned_on  # PlantNotFound
    if commissioned is not None and start < commissioned:
        raise InvalidRange(
            f"`from` is before the plant's commissioning day, {commissioned}: there is no data to fetch"
        )
    now = datetime.now(UTC)
    pending = plants.request_resync(plant_id, start.isoformat(), last.isoformat(), now, now - STALE_AFTER)
    if pending is not None:
        raise ResyncPending(plant_id, pending.from_, pending.to, pending.state, pending.requested_at)
    end = last + timedelta(days=1)
    jobs.enqueue([jobs.SyncJob(plant_id=plant_id, reason="resync", start=start, end=end)])
    logger.info("re-sync queued", extra={"plant_id": plant_id, "from": str(start), "to": str(last)})
    return Resync(
        plant_id=plant_id,
        from_=start,
        to=last,
        state="pending",
        requested_at=now,
        progress=f"/api/solar-plant/plant/{plant_id}",
    )


def run(
    plant_id: int,
    client: MonitoringClient,
    start: date,
    end: date,
    *,
    today: date | None = None,
    owner: str | None = None,
) -> SyncOutcome:
    """Fetch [start, end) again and mirror it in the store (see the module docstring)."""
    today = today or utc_today()
    owner = owner or str(uuid.uuid4())
    try:
        state = plants.acquire_sync_lease(plant_id, owner, datetime.now(UTC), LEASE_SECONDS)
    except PlantNotFound:
        return SyncOutcome(plant_id, "deleted")
    if state is None:
        return SyncOutcome(plant_id, "busy")
    missing = set(state.missing_days)
    hours = 0
    done_until = start  # days before it are replaced
    try:
        plants.set_resync(plant_id, owner, "running")
        status, error = "done", None
        try:
            with closing(client.fetch_ranges(plant_id, [(start, min(end, today))])) as chunks:
                for chunk in chunks:
                    counts = datapoints.replace_days(plant_id, chunk.start, chunk.end, chunk.datapoints)
                    hours += len(chunk.datapoints)
                    for day, n in counts.items():
                        (missing.add if n < 24 else missing.discard)(day)
                    done_until = chunk.end
        except TimeBudgetExhausted as exhausted:
            status, error = "partial", str(exhausted)
        except MonitoringError as failure:
            status, error = "failed", str(failure)
        state.missing_days = sorted(missing)
        if not plants.save_sync_state(plant_id, owner, state):
            try:
                plants.get_plant(plant_id)
            except PlantNotFound:
                datapoints.delete_plant_data(plant_id)
                return SyncOutcome(plant_id, "deleted", hours)
            return SyncOutcome(plant_id, "lost", hours, error="the lease was taken by another run")
        if status == "done":
            plants.clear_resync(plant_id, owner)
        else:
            plants.set_resync(plant_id, owner, "pending", f"{today}: {error}"[:1000])
        alerts.after_sync(plant_id, status, error, state, today)
    finally:
        plants.release_sync_lease(plant_id, owner)
    outcome = SyncOutcome(plant_id, status, hours, len(missing), error)  # type: ignore[arg-type]
    if status == "partial":
        outcome.resume_from = done_until
    logger.info(f"re-sync {status}", extra={"from": str(start), "to": str(end), **outcome.__dict__})
    return outcome
