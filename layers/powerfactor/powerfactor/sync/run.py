"""The sync: bring one plant's datapoints up to date with the monitoring service.

A run, for one plant (new plant, daily, or continuation), in this order:
1. **recent**: the last `REFRESH_DAYS` days, or from the end of the synced range if that is
   older, up to today (`to` exclusive): yesterday is fetched, and the days before it fetched
   again, so late corrections by the service are picked up.
2. **missing days**: days inside the synced range that still lack hours are asked for again.
3. **backfill**: the next `SYNC_EVERY_RUN` years before the oldest synced day, month by month
   going back, never before the horizon (`SYNC_UNTIL_YEAR` years before today) nor before the
   plant's `commissioned_on` when it has one (`_Run.oldest`).
Chunks come from `MonitoringClient.fetch_ranges`, which fetches the next month while this one
is written. They are written through one `datapoints.DayWriter`, which holds a chunk's last
partial batch back to fill it with the next chunk's items. Progress is saved on the plant every
few seconds and whenever a run stops, always after the writer has sent everything it held, so
a saved state never covers data not yet stored: a run stopped by the Lambda's time budget or by
a failing service loses nothing and the next run goes on from there (a run killed outright, or
by a failing DynamoDB, fetches at most those seconds again).

One run per plant at a time: a run holds a lease on the plant (`LEASE_SECONDS`, longer than the
worker's timeout: tests/unit/sync/test_lease.py ties the two and the queue's visibility timeout), and
every save is conditional on it. A save that fails tells one of two things apart with a
consistent read of the plant: the plant is gone (deleted during the run), so the run stops and
removes what it stored, leaving no orphaned data; or the plant is there and another run took
the lease, so this run stops, deletes nothing and reports `lost` (the other run carries on).

After a run's last save, still under the lease, the plant's alerts are judged
(`powerfactor.alerts.logic.after_sync`, which never raises).

The writer reads what is stored before it writes (one strongly consistent Query per phase's
range, asked for up front: `_Run.expect`) and writes only days whose values differ; every change
to a stored hour is a revision, whose cause is the phase: `daily` (recent and missing days) or
`backfill` (powerfactor.datapoints.revisions). A run that revised history publishes a
data.revised event per cause at its end (`alerts.logic.publish_revised`, never raises).

DynamoDB failing during a run (a timeout, a hang, throttling past the retries) fails the run
like a failing service does, and the plant says so: the state last saved (which never covers
data not stored) is saved again with `last_error`, and the lease released, each tried again for
up to `STORAGE_RECOVERY_SECONDS` (within the Lambda's time) while DynamoDB comes back; neither
ever raises. The worker then has SQS hand the job back after a short backoff (powerfactor.sync.jobs).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from aws_lambda_powertools import Logger

from powerfactor.alerts import logic as alerts
from powerfactor.aws.outage import StorageError
from powerfactor.datapoints import store as datapoints
from powerfactor.datapoints.revisions import Cause
from powerfactor.plants import store as plants
from powerfactor.plants.schemas import ResyncResult, SyncState
from powerfactor.runtime.clock import utc_today
from powerfactor.runtime.errors import PlantNotFound
from powerfactor.runtime.settings import get_settings
from powerfactor.sync.vendor import (
    Chunk,
    MonitoringClient,
    MonitoringError,
    TimeBudgetExhausted,
    day_ranges,
    month_chunks,
)

logger = Logger(child=True)

SAVE_EVERY_SECONDS = 5.0
LEASE_SECONDS = 960  # outlives the worker's longest run: tests/unit/sync/test_lease.py
MAX_MISSING_RANGES_PER_RUN = 31
REFRESH_DAYS = 7
STORAGE_RECOVERY_SECONDS = 60.0  # how long a failed run tries to record its failure
DAILY = Cause("daily", why="daily sync: the monitoring service's answer differs from the stored hours")
BACKFILL = Cause("backfill", why="backfill: the monitoring service's answer differs from the stored hours")

# busy: another run held the lease at the start; lost: another run took it during this one
Status = Literal["done", "partial", "failed", "busy", "lost", "deleted"]


def years_before(day: date, years: int) -> date:
    """The same calendar day `years` earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def horizon(today: date, until_years: int) -> date:
    """The oldest day PowerFactor keeps: `until_years` years before today."""
    return years_before(today, until_years)


@dataclass
class SyncOutcome:
    plant_id: int
    status: Status
    hours_stored: int = 0
    missing_days: int = 0
    error: str | None = None
    resume_from: date | None = None  # a partial re-sync: where its next run starts
    resync: ResyncResult | None = None  # a re-sync's counts (so far)


class _PlantDeleted(Exception):
    """A save found the plant gone."""


class _LeaseLost(Exception):
    """A save found the plant there, its lease held by another run."""


@dataclass
class _Run:
    plant_id: int
    client: MonitoringClient
    state: SyncState
    owner: str
    today: date
    hours_stored: int = 0
    missing: set[date] = field(default_factory=set)
    saved_at: float = -math.inf
    commissioned_on: date | None = None
    writer: datapoints.DayWriter = field(init=False)
    saved: SyncState = field(init=False)  # the state as last saved: true of what is stored

    def __post_init__(self) -> None:
        self.writer = datapoints.DayWriter(self.plant_id)
        self.saved = self.state.model_copy(deep=True)

    def oldest(self) -> date:
        """The first day the plant's history can have: the horizon, or its commissioning day."""
        limit = horizon(self.today, get_settings().sync_until_year)
        return max(limit, self.commissioned_on) if self.commissioned_on else limit

    def store(self, chunk: Chunk) -> None:
        """Write a chunk and note which of its days are still incomplete."""
        counts = self.writer.write(chunk.datapoints)
        self.hours_stored += len(chunk.datapoints)
        unwritten = [d for d in _days(chunk.start, chunk.end) if d not in counts]
        if unwritten:
            self.writer.flush()  # the summaries read below may be among the items held back
            stored = datapoints.read_day_sums(
                self.plant_id, min(unwritten), max(unwritten) + timedelta(days=1)
            )
            counts.update({d: stored[d].hours if d in stored else 0 for d in unwritten})
        for day in _days(chunk.start, chunk.end):
            (self.missing.add if counts[day] < 24 else self.missing.discard)(day)

    def save(self) -> None:
        """Store what the writer holds, then save progress under the lease; _PlantDeleted or
        _LeaseLost if the lease is not ours."""
        self.writer.flush()
        self.state.missing_days = sorted(self.missing)
        if not plants.save_sync_state(self.plant_id, self.owner, self.state):
            try:
                plants.get_plant(self.plant_id)  # a consistent read: is the plant really gone?
            except PlantNotFound:
                raise _PlantDeleted() from None
            raise _LeaseLost()
        self.saved_at = time.monotonic()
        self.saved = self.state.model_copy(deep=True)

    def record_failure(self, error: str) -> SyncState | None:
        """DynamoDB failed the run: save the state last saved, with `error` as `last_error`, trying
        again while DynamoDB recovers; the state saved, or None if it could not be (never raises)."""
        state = self.saved.model_copy(update={"last_error": f"{self.today.isoformat()}: {error}"[:1000]})
        saved = patiently(
            lambda: plants.save_sync_state(self.plant_id, self.owner, state),
            self.client,
            "record the failure",
        )
        return state if saved else None

    def checkpoint(self) -> None:
        """Save progress if the last save is `SAVE_EVERY_SECONDS` old (a save after every chunk
        cost a conditional write per month: a fifth of a 10-year backfill's time)."""
        if time.monotonic() - self.saved_at >= SAVE_EVERY_SECONDS:
            self.save()

    def recent_start(self) -> date:
        """The first day `recent` fetches."""
        yesterday = self.today - timedelta(days=1)
        if self.state.synced_until is None:
            start = yesterday  # a new plant: yesterday first, then the backfill
        else:
            start = min(self.state.synced_until, self.today - timedelta(days=REFRESH_DAYS))
        return max(start, self.oldest())

    def backfill_range(self, history_from: date) -> tuple[date, date]:
        """The days `backfill` fetches, [target, history_from): `SyncEveryRun` years before it."""
        target = max(self.oldest(), years_before(history_from, get_settings().sync_every_run))
        return target, history_from

    def expect(self) -> None:
        """Have the writer read, up front, what is stored where this run will write: the recent
        days, and the backfill's year before them (one Query where the two touch: a new plant)."""
        start = self.recent_start()
        target, history_from = self.backfill_range(self.state.history_from or start)
        if history_from == start:
            self.writer.expect(min(target, start), self.today)
            return
        self.writer.expect(start, self.today)
        self.writer.expect(target, history_from)

    def recent(self) -> None:
        self.writer.cause = DAILY
        start = self.recent_start()
        with closing(self.client.fetch_chunks(self.plant_id, start, self.today)) as chunks:
            for chunk in chunks:
                self.store(chunk)
                self.state.synced_until = chunk.end
                self.state.history_from = self.state.history_from or start
                self.checkpoint()

    def retry_missing(self) -> None:
        self.writer.cause = DAILY
        oldest = self.oldest()
        self.missing = {d for d in self.missing if d >= oldest}
        refreshed = self.today - timedelta(days=REFRESH_DAYS)
        ranges = day_ranges(d for d in self.missing if d < refreshed)[:MAX_MISSING_RANGES_PER_RUN]
        with closing(self.client.fetch_ranges(self.plant_id, ranges)) as chunks:
            for chunk in chunks:
                self.store(chunk)
                self.checkpoint()

    def backfill(self) -> None:
        self.writer.cause = BACKFILL
        target, history_from = self.backfill_range(self.state.history_from or self.today)
        months = reversed(list(month_chunks(target, history_from)))
        with closing(self.client.fetch_ranges(self.plant_id, months)) as chunks:
            for chunk in chunks:
                self.store(chunk)
                self.state.history_from = chunk.start
                self.checkpoint()


def patiently(call: Callable[[], bool | None], client: MonitoringClient, what: str) -> bool:
    """`call()` tried again while DynamoDB fails, at most `STORAGE_RECOVERY_SECONDS` and within
    the Lambda's time; its result, or False if DynamoDB never answered. Never raises."""
    give_up = time.monotonic() + min(STORAGE_RECOVERY_SECONDS, max(0.0, client.seconds_left() - 5))
    delay = 0.5
    while True:
        try:
            return call() is not False
        except StorageError as failure:
            if time.monotonic() + delay > give_up:
                logger.warning(f"DynamoDB failing: could not {what}", extra={"error": storage_error(failure)})
                return False
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def storage_error(failure: StorageError) -> str:
    """What went wrong with DynamoDB, in words for `last_error` (no endpoint, no key values)."""
    cause = failure.cause
    return f"storage: {type(failure).__name__} ({type(cause).__name__ if cause else 'no cause'})"


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


def sync_plant(
    plant_id: int,
    client: MonitoringClient,
    *,
    today: date | None = None,
    owner: str | None = None,
) -> SyncOutcome:
    """One sync run for one plant. Never raises for the service's failures: the outcome says."""
    today = today or utc_today()
    owner = owner or str(uuid.uuid4())
    now = datetime.now(UTC)
    try:
        state = plants.acquire_sync_lease(plant_id, owner, now, LEASE_SECONDS)
        plant = plants.get_plant(plant_id) if state is not None else None
    except PlantNotFound:
        return SyncOutcome(plant_id, "deleted")
    if state is None or plant is None:
        return SyncOutcome(plant_id, "busy")
    run = _Run(plant_id, client, state, owner, today, missing=set(state.missing_days))
    run.commissioned_on = plant.commissioned_on
    log = {"plant_id": plant_id, "today": today.isoformat()}
    status: Status
    try:
        try:
            run.expect()
            run.recent()
            run.retry_missing()
            run.backfill()
            state.last_success_at, state.last_error = datetime.now(UTC), None
            status, error = "done", None
        except TimeBudgetExhausted as exhausted:
            status, error = "partial", str(exhausted)
        except MonitoringError as failure:
            status, error = "failed", str(failure)
            state.last_error = f"{today.isoformat()}: {failure}"[:1000]
        run.save()
        alerts.after_sync(
            plant_id, plant.account_id, status, error, state, today
        )  # under the lease; never raises
    except StorageError as failure:  # DynamoDB failed the run: say so where it can
        status, error = "failed", storage_error(failure)
        logger.warning("sync failed: DynamoDB", extra={**log, "error": error, "cause": repr(failure.cause)})
        recorded = run.record_failure(error)
        if recorded is not None:
            alerts.after_sync(plant_id, plant.account_id, status, error, recorded, today)
    except _PlantDeleted:
        removed = datapoints.delete_plant_data(plant_id)
        logger.info("plant deleted during its sync; its data removed", extra={**log, "items": removed})
        return SyncOutcome(plant_id, "deleted", run.hours_stored)
    except _LeaseLost:
        logger.warning(
            "sync lease taken by another run; this run stopped, its data kept",
            extra={**log, "hours_stored": run.hours_stored},
        )
        alerts.publish_revised(plant_id, plant.account_id, run.writer.tally.take())
        return SyncOutcome(plant_id, "lost", run.hours_stored, error="the lease was taken by another run")
    finally:
        patiently(lambda: plants.release_sync_lease(plant_id, owner), client, "release the lease")
    alerts.publish_revised(
        plant_id, plant.account_id, run.writer.tally.take()
    )  # what it changed, even if it failed
    outcome = SyncOutcome(plant_id, status, run.hours_stored, len(run.missing), error)
    logger.info(f"sync {status}", extra={**log, **outcome.__dict__})
    return outcome
