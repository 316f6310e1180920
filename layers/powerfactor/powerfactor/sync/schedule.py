"""The daily schedule (EventBridge → functions/daily_sync): one sync job per plant.

Apart from `lifecycle` so the daily function imports only the plants table and the queue, not
the alerts and datapoints code a deleted plant's purge needs: its cold start is its imports.
"""

from __future__ import annotations

from powerfactor.plants import store as plants
from powerfactor.sync import jobs


def queue_daily_sync() -> int:
    """Put one sync job per plant on the sync queue; return how many were queued."""
    return jobs.enqueue(jobs.SyncJob(plant_id=pid, reason="daily") for pid in plants.plant_ids())
