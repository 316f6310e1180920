"""Revert a re-sync: put back, hour by hour, what it changed (POST .../resyncs/{resync_id}/revert).

The re-sync's revisions are found in the revision log of its range (its id holds the range:
`plants.schemas.resync_id`; powerfactor.datapoints.revisions), read strongly consistent. For each
hour the re-sync changed, removed or restored, the value it had before is the `old` of the
re-sync's first revision of that hour; the revert writes it back (an hour it removed is restored,
an hour it restored is removed again), and each of those writes is a revision itself, cause
`revert`, with the re-sync's id, the key that asked for the revert and its reason.

The rules:
- no revision of that re-sync for this plant: ResyncNotFound (404; it changed nothing, is
  another plant's, or its revisions expired after `RevisionRetentionDays`);
- an hour it changed that has changed again since (a later sync, re-sync or another revert; or
  whose stored value is not the one the re-sync wrote): RevisionConflict (409, the hours listed)
  and nothing is written: a revert never undoes what came after;
- every hour reverted already: AlreadyReverted (409); reverting twice changes nothing;
- the re-sync still queued or running: ResyncPending (409); the plant syncing: PlantBusy (409).
Hours the re-sync stored where none was (a gap filled) are not revisions and stay.

It runs in the API request, under the plant's sync lease (`LEASE_SECONDS`, the longest an API
request lives, so a request killed outright blocks the plant's syncs a minute at most; a daily
run that meets it is skipped, as for any busy plant, and the next day's refreshes the week). The
writes go month by month, each month's days, revisions and summary in one transaction: a revert
cut short (DynamoDB failing, the request's time up) has reverted whole months, and asking again
finishes it (the hours done are skipped). Then one data.revised event (cause `revert`).
Each month's transaction holds its audit entry too (`plant.resync_reverted`, the re-sync's id, the
month and the hours it put back; powerfactor.access.audit): a revert cut short has the entries of
the months it reverted, no more.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from powerfactor.access import audit, audit_store
from powerfactor.access.principal import Principal
from powerfactor.alerts import logic as alerts
from powerfactor.aws.outage import StorageError
from powerfactor.datapoints import revisions
from powerfactor.datapoints import store as datapoints
from powerfactor.datapoints.points import Datapoint
from powerfactor.plants import logic as plant_logic
from powerfactor.plants import store as plants
from powerfactor.plants.schemas import RevertResult, resync_range
from powerfactor.runtime.errors import (
    AlreadyReverted,
    NotPermitted,
    PlantBusy,
    PlantNotFound,
    ResyncNotFound,
    ResyncPending,
    RevisionConflict,
)

logger = Logger(child=True)

LEASE_SECONDS = 60


def _hour(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _is_revert_of(revision: revisions.Revision, resync_id: str) -> bool:
    return revision.cause.kind == "revert" and revision.cause.resync_id == resync_id


Changes = tuple[revisions.HourChange, revisions.HourChange]  # an hour's first and last by the re-sync


def _plan(
    plant_id: int, resync_id: str, start: date, end: date
) -> tuple[dict[tuple[date, int], Changes], list[tuple[str, str]], datetime | None]:
    """For each hour the re-sync revised and that is not reverted yet: its first and last change
    by the re-sync; the conflicts (hour, what changed it since); when the hours reverted already
    were (None: none was)."""
    history: dict[tuple[date, int], list[tuple[revisions.Revision, revisions.HourChange]]] = {}
    for revision in revisions.read(plant_id, start, end, consistent=True):
        for change in revision.changes:
            history.setdefault((revision.day, change.hour), []).append((revision, change))
    todo: dict[tuple[date, int], Changes] = {}
    conflicts: list[tuple[str, str]] = []
    reverted_at = None
    for (day, hour), entries in sorted(history.items()):
        mine = [
            i
            for i, (r, _) in enumerate(entries)
            if r.cause.kind == "resync" and r.cause.resync_id == resync_id
        ]
        if not mine:
            continue
        later = [revision for revision, _ in entries[mine[-1] + 1 :]]
        if later and _is_revert_of(later[0], resync_id):
            reverted_at = max(reverted_at or later[0].changed_at, later[0].changed_at)
        elif later:
            by = later[0].cause.kind + (f" {later[0].cause.resync_id}" if later[0].cause.resync_id else "")
            when = later[0].changed_at.isoformat()
            conflicts.append((_hour(day, hour).isoformat(), f"changed again at {when} by {by}"))
        else:
            todo[(day, hour)] = (entries[mine[0]][1], entries[mine[-1]][1])
    return todo, conflicts, reverted_at


def revert(principal: Principal, plant_id: int, resync_id: str, reason: str | None = None) -> RevertResult:
    """Undo re-sync `resync_id` of a plant the caller may change (the module docstring's rules);
    what it put back. PlantNotFound also for a plant the caller does not reach; NotPermitted."""
    plant = plant_logic.get_plant(principal, plant_id)  # PlantNotFound
    if not principal.may_change(plant.ref()):
        raise NotPermitted(f"this key cannot revert re-syncs of plant {plant_id}")
    key_id = principal.key_id
    span = resync_range(resync_id)
    if span is None:
        raise ResyncNotFound(plant_id, resync_id)
    start, end = span[0], span[1] + timedelta(days=1)
    owner = f"revert:{uuid.uuid4()}"
    state = plants.acquire_sync_lease(plant_id, owner, datetime.now(UTC), LEASE_SECONDS)  # PlantNotFound
    if state is None:
        raise PlantBusy(plant_id)
    why = f"revert of re-sync {resync_id}" + (f": {reason}" if reason else "")
    writer = datapoints.DayWriter(plant_id, revisions.Cause("revert", resync_id, key_id, why))

    def audited(month: date, hours: int) -> list[dict[str, Any]]:
        details = {"resync_id": resync_id, "month": month.strftime("%Y-%m"), "hours": hours, "reason": reason}
        return [
            audit_store.transact_put(entry)
            for entry in audit.entries(
                principal, plant.account_id, "plant.resync_reverted", f"plant/{plant_id}", details=details
            )
        ]

    writer.audit = audited
    try:
        pending = state.resync
        if pending is not None and pending.id == resync_id:
            raise ResyncPending(plant_id, pending.from_, pending.to, pending.state, pending.requested_at)
        todo, conflicts, reverted_at = _plan(plant_id, resync_id, start, end)
        if not todo and not conflicts:
            if reverted_at is not None:
                raise AlreadyReverted(resync_id, reverted_at.isoformat())
            raise ResyncNotFound(plant_id, resync_id)
        if todo:
            days = [day for day, _ in todo]
            writer.expect(min(days), max(days) + timedelta(days=1))  # one Query, strongly consistent
        edits: dict[date, dict[int, Datapoint | None]] = {}
        current: dict[date, dict[int, Datapoint]] = {}
        for (day, hour), (first, last) in todo.items():
            if day not in current:
                current[day] = writer.stored(day)
            stored = current[day].get(hour)
            if (revisions.values(stored) if stored else None) != last.new:
                conflicts.append(
                    (_hour(day, hour).isoformat(), "its stored value is not the one the re-sync wrote")
                )
                continue
            edits.setdefault(day, {})[hour] = Datapoint(_hour(day, hour), *first.old) if first.old else None
        if conflicts:
            conflicts.sort()
            raise RevisionConflict(resync_id, conflicts[: RevisionConflict.MAX_SHOWN])
        writer.apply(edits)
        try:
            plants.get_plant(plant_id)  # a consistent read: deleted meanwhile, its purge may be done
        except PlantNotFound:
            datapoints.delete_plant_data(plant_id)
            raise
    finally:
        try:
            plants.release_sync_lease(plant_id, owner)
        except StorageError:  # it lapses after LEASE_SECONDS anyway; the error that matters is raised
            logger.warning("could not release the lease after a revert", extra={"plant_id": plant_id})
    revised = writer.tally.take()
    alerts.publish_revised(plant_id, plant.account_id, revised)
    counts: dict[str, int] = {kind: sum(r.counts[kind] for r in revised) for kind in revisions.KINDS}
    first_day, last_day = min(edits), max(edits)
    logger.info("re-sync reverted", extra={"plant_id": plant_id, "resync_id": resync_id, **counts})
    return RevertResult(
        plant_id=plant_id,
        resync_id=resync_id,
        from_=first_day,
        to=last_day,
        reverted_at=datetime.now(UTC),
        revisions=f"/api/solar-plant/plant/{plant_id}/revisions?from={first_day}&to={last_day}",
        **counts,
    )
