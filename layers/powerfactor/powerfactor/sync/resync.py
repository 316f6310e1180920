"""Re-sync of a range: fetch [from, to] again and store what the service says now.

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
time and writes it (a `datapoints.DayWriter`, `resync`): values the service gives overwrite what is
stored, and stored hours it omits are **kept** and counted `unconfirmed` (a degraded service
answering `[]` or half a day must not erase hours that were right). Only a request with
`remove_missing` removes them; a `dry_run` writes nothing and only counts, per day, what would
be written, added, changed, removed or left unconfirmed. The counts so far are saved on the
plant's pending re-sync after each run (`result`, with `through`, the end of the last month
counted): a run stopped by the time budget says where it got to (`resume_from`) and the worker
queues the rest of the range; a failed run retried by SQS goes on from `through` as well, so
nothing is counted twice and a long range finishes instead of starting over each time.
Days left incomplete join the plant's `missing_days` (the daily sync asks for them again),
complete ones leave it (not on a dry run). On success the re-sync is cleared from the plant and
its result kept as the plant's `last_resync`; on a failure it goes back to `pending` with its
error, and SQS retries the job. Then the plant's alerts are judged.

Every stored hour it changes, removes or restores is a revision with cause `resync`, its id (the
range and request time: `plants.schemas.resync_id`), the key that asked for it and its `reason`
(powerfactor.datapoints.revisions); a run that revised history publishes a data.revised event.
`POST .../resyncs/{id}/revert` undoes it (powerfactor.sync.revert).
"""

from __future__ import annotations

import uuid
from contextlib import closing
from datetime import UTC, date, datetime, timedelta

from aws_lambda_powertools import Logger

from powerfactor.access.principal import Principal
from powerfactor.alerts import logic as alerts
from powerfactor.aws.outage import StorageError
from powerfactor.datapoints import store as datapoints
from powerfactor.datapoints.revisions import Cause
from powerfactor.plants import logic as plant_logic
from powerfactor.plants import store as plants
from powerfactor.plants.schemas import Resync, ResyncResult, resync_id
from powerfactor.runtime.clock import utc_today
from powerfactor.runtime.errors import InvalidRange, NotPermitted, PlantNotFound, ResyncPending
from powerfactor.runtime.settings import get_settings
from powerfactor.sync import jobs
from powerfactor.sync.run import LEASE_SECONDS, Status, SyncOutcome, horizon, patiently, storage_error
from powerfactor.sync.vendor import MonitoringClient, MonitoringError, TimeBudgetExhausted

logger = Logger(child=True)

STALE_AFTER = timedelta(hours=6)  # longer than SQS's five receives 30 minutes apart
BUSY_DELAY_SECONDS = 60


def request(
    principal: Principal,
    plant_id: int,
    start: date,
    last: date,
    today: date | None = None,
    *,
    remove_missing: bool = False,
    dry_run: bool = False,
    key_id: str | None = None,
    reason: str | None = None,
) -> Resync:
    """Queue a re-sync of [start, last] of a plant the caller may change, asked for by the API
    key `key_id`, for `reason`; InvalidRange, PlantNotFound (also for a plant it does not reach),
    NotPermitted or ResyncPending."""
    today = today or utc_today()
    oldest = horizon(today, get_settings().sync_until_year)
    if start > last:
        raise InvalidRange("`from` is after `to`")
    if start < oldest:
        raise InvalidRange(f"`from` is before the horizon, {oldest} (SyncUntilYear)")
    if last >= today:
        raise InvalidRange(f"`to` must be before today, {today} (the service has no complete day after it)")
    plant = plant_logic.get_plant(principal, plant_id)  # PlantNotFound
    if not principal.may_change(plant.ref()):
        raise NotPermitted(f"this key cannot re-sync plant {plant_id}")
    commissioned = plant.commissioned_on
    if commissioned is not None and start < commissioned:
        raise InvalidRange(
            f"`from` is before the plant's commissioning day, {commissioned}: there is no data to fetch"
        )
    now = datetime.now(UTC)
    pending = plants.request_resync(
        plant_id,
        start.isoformat(),
        last.isoformat(),
        now,
        now - STALE_AFTER,
        remove_missing=remove_missing,
        dry_run=dry_run,
        key_id=key_id,
        reason=reason,
        by=principal,
        owner=plant.account_id,
    )
    if pending is not None:
        raise ResyncPending(plant_id, pending.from_, pending.to, pending.state, pending.requested_at)
    end = last + timedelta(days=1)
    jobs.enqueue([jobs.SyncJob(plant_id=plant_id, reason="resync", start=start, end=end)])
    logger.info(
        "re-sync queued",
        extra={"plant_id": plant_id, "from": str(start), "to": str(last), "remove_missing": remove_missing,
               "dry_run": dry_run},
    )  # fmt: skip
    return Resync(
        id=resync_id(start, last, now),
        plant_id=plant_id,
        from_=start,
        to=last,
        state="pending",
        requested_at=now,
        remove_missing=remove_missing,
        dry_run=dry_run,
        key_id=key_id,
        reason=reason,
        progress=f"/api/solar-plant/plant/{plant_id}",
    )


def cause(pending: Resync | None, start: date, end: date) -> Cause:
    """The cause its revisions record: the re-sync's id, the key that asked, and why."""
    if pending is None:  # its request is gone (a stale job): the job's range names it
        return Cause("resync", why=f"re-sync of {start}..{end - timedelta(days=1)}")
    why = f"re-sync of {pending.from_}..{pending.to}" + (", remove_missing" if pending.remove_missing else "")
    return Cause(
        "resync",
        resync_id=pending.id,
        key_id=pending.key_id,
        why=f"{why}: {pending.reason}" if pending.reason else why,
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
    """Fetch [start, end) again and store it (see the module docstring)."""
    today = today or utc_today()
    owner = owner or str(uuid.uuid4())
    try:
        state = plants.acquire_sync_lease(plant_id, owner, datetime.now(UTC), LEASE_SECONDS)
        account_id = plants.get_plant(plant_id).account_id if state is not None else None
    except PlantNotFound:
        return SyncOutcome(plant_id, "deleted")
    if state is None or account_id is None:
        return SyncOutcome(plant_id, "busy")
    missing = set(state.missing_days)
    hours = 0
    pending = state.resync
    remove_missing, dry_run = (pending.remove_missing, pending.dry_run) if pending else (False, False)
    result = (pending and pending.result) or ResyncResult(
        id=pending.id if pending else None,
        from_=start,
        to=end - timedelta(days=1),
        dry_run=dry_run,
        remove_missing=remove_missing,
    )
    writer = datapoints.DayWriter(plant_id, cause(pending, start, end))
    if result.through and start < result.through < end:
        start = result.through  # a retried run: the days before are counted (and written)
    done_until = start  # days before it are written
    status: Status
    error: str | None
    try:
        plants.set_resync(plant_id, owner, "running")
        status, error = "done", None
        try:
            with closing(client.fetch_ranges(plant_id, [(start, min(end, today))])) as chunks:
                for chunk in chunks:
                    days = writer.resync(
                        chunk.start,
                        chunk.end,
                        chunk.datapoints,
                        remove_missing=remove_missing,
                        dry_run=dry_run,
                    )
                    hours += 0 if dry_run else len(chunk.datapoints)
                    for day, (counts, n) in days.items():
                        result.note(day, counts)
                        if not dry_run:
                            (missing.add if n < 24 else missing.discard)(day)
                    done_until = result.through = chunk.end
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
            result.finished_at = datetime.now(UTC)
            plants.clear_resync(plant_id, owner, result)
        else:
            plants.set_resync(plant_id, owner, "pending", f"{today}: {error}"[:1000], result)
        alerts.after_sync(plant_id, account_id, status, error, state, today)
    except StorageError as failure:  # DynamoDB failed the run: say so where it can
        status, error = "failed", storage_error(failure)
        why = f"{today}: {error}"
        patiently(
            lambda: plants.set_resync(plant_id, owner, "pending", why, result), client, "record the failure"
        )
    finally:
        patiently(lambda: plants.release_sync_lease(plant_id, owner), client, "release the lease")
    alerts.publish_revised(plant_id, account_id, writer.tally.take())  # what it changed, even if it failed
    outcome = SyncOutcome(plant_id, status, hours, len(missing), error)
    outcome.resync = result
    if status == "partial":
        outcome.resume_from = done_until
    totals = result.model_dump(include={"written", "added", "changed", "removed", "unconfirmed", "dry_run"})
    log = {k: v for k, v in outcome.__dict__.items() if k != "resync"}
    logger.info(f"re-sync {status}", extra={"from": str(start), "to": str(end), **log, **totals})
    return outcome
