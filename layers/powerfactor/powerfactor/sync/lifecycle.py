"""What happens around a plant's life: its backfill is queued when it is created, its data is
removed when it is deleted (the daily jobs are `schedule`'s).

Kept apart from the rest of `powerfactor.sync` so that the stream function, which only queues
jobs and deletes data, does not import the monitoring client (requests, tenacity) at cold start.
"""

from __future__ import annotations

from powerfactor.alerts import logic as alerts
from powerfactor.datapoints import store as datapoints
from powerfactor.sync import jobs


def queue_backfill(plant_id: int) -> None:
    """A new plant: queue its first sync (yesterday, then the backfill)."""
    jobs.enqueue([jobs.SyncJob(plant_id=plant_id, reason="created")])


def purge_plant(plant_id: int) -> int:
    """Remove all datapoints of a deleted plant, and resolve (published) and remove its alerts;
    return how many datapoint items were removed."""
    alerts.purge_plant(plant_id)
    return datapoints.delete_plant_data(plant_id)
