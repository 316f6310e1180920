"""What happens around a plant's life: its backfill is queued when it is created, its data is
removed when it is deleted, and every plant gets a sync job each day.

Kept apart from `powerfactor.sync` so that the stream and daily functions, which only queue jobs
and delete data, do not import the monitoring client (requests, tenacity) at cold start.
"""

from __future__ import annotations

from powerfactor.alerts import logic as alerts
from powerfactor.datapoints import store as datapoints
from powerfactor.plants import store as plants
from powerfactor.sync import jobs


def queue_backfill(plant_id: int) -> None:
    """A new plant: queue its first sync (yesterday, then the backfill)."""
    jobs.enqueue([jobs.SyncJob(plant_id=plant_id, reason="created")])


def queue_daily_sync() -> int:
    """Put one sync job per plant on the sync queue; return how many were queued."""
    return jobs.enqueue(jobs.SyncJob(plant_id=pid, reason="daily") for pid in plants.plant_ids())


def purge_plant(plant_id: int) -> int:
    """Remove all datapoints of a deleted plant, and resolve (published) and remove its alerts;
    return how many datapoint items were removed."""
    alerts.purge_plant(plant_id)
    return datapoints.delete_plant_data(plant_id)
