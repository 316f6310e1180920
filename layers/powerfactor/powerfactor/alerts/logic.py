"""Alerts: conditions judged for a plant at the end of each of its sync runs, and their events.

Kinds (limits from template parameters, read in `settings`):
- `underperformance`: observed / expected energy of the stored hours in the last
  `ALERT_WINDOW_HOURS` before the end of the synced range (today, 00:00 UTC) is below
  `ALERT_RATIO_THRESHOLD`; judged only with at least `ALERT_MIN_HOURS` hours present and some
  expected energy (else no verdict: an open alert stays open, none opens).
- `data_gap`: the latest stored hour ends more than `ALERT_GAP_HOURS` before today 00:00 UTC
  (or none in the hours looked at), or the plant has more than `ALERT_MAX_MISSING_DAYS`
  missing days inside its synced range.
- `sync_failing`: the plant's last `ALERT_FAILED_RUNS` runs failed (a run stopped by the time
  budget counts neither way), with the last error.
Judging reads only the plant's day items of the window (8 or so items), its open alerts and its
run counter: no scan.

An alert opens once (no second one of a kind while one is open), is updated by each run that
finds it still true, and resolves itself when a run finds it false. Deleting a plant resolves
its open alerts (reason `plant_deleted`) and removes all of them. A run that judged a plant
deleted meanwhile finds it gone (a consistent read after its writes) and removes what it wrote,
announcing no opening: the purge may have run before those writes.

Every opening and resolution is published to the stack's EventBridge bus (`ALERT_BUS_NAME`),
`source` "powerfactor.alerts", `detail-type` "alert.<kind>.<opened|resolved>", and `detail`:

    {"version": 1, "alert_id", "account_id", "plant_id", "kind", "state": "open" | "resolved",
     "message", "figures": {...}, "opened_at", "resolved_at" (null while open), "reason":
     "opened" | "cleared" | "plant_deleted"}

(version 1; a field's meaning never changes within a version; `account_id`, the plant's owner,
was added to it: a rule on the bus can route one account's events by it). The event is also logged ("alert
event"). The state is stored first: an event whose PutEvents failed is logged, not retried, so
delivery is at most once; the API's lists are the record.

A sync run, re-sync or revert that changed stored history publishes, on the same bus (and so to
the webhook), `source` "powerfactor.data", `detail-type` "data.revised", one per cause:

    {"version": 1, "account_id", "plant_id", "cause": "daily" | "backfill" | "resync" | "revert", "resync_id",
     "key_id", "why", "changed", "removed", "restored" (hours), "from", "to" (the first and last
     day revised), "revisions": "/api/solar-plant/plant/<id>/revisions?from=...&to=..."}

(`publish_revised`; the revision log, powerfactor.datapoints.revisions, is the record.)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from powerfactor.access.principal import DEFAULT_ACCOUNT, Principal
from powerfactor.alerts import store as storage
from powerfactor.alerts.schemas import Alert, AlertKind, AlertPage
from powerfactor.datapoints import store as datapoints
from powerfactor.datapoints.revisions import Revised
from powerfactor.plants.schemas import SyncState
from powerfactor.runtime import cursors
from powerfactor.runtime.errors import InvalidCursor, PlantNotFound
from powerfactor.runtime.settings import Settings, get_settings

logger = Logger(child=True)

SOURCE = "powerfactor.alerts"
DATA_SOURCE = "powerfactor.data"  # data.revised events
DETAIL_VERSION = 1
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Verdict:
    """A condition's verdict for one run: `active` None means "cannot tell" (left as it is)."""

    kind: AlertKind
    active: bool | None
    message: str
    figures: dict[str, Any]


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def judge(
    plant_id: int,
    status: str,
    error: str | None,
    state: SyncState,
    today: date,
    failures: int,
    settings: Settings | None = None,
) -> list[Verdict]:
    """The verdict on each kind after a run with this outcome and the plant's state after it."""
    settings = settings or get_settings()
    verdicts = [
        Verdict(
            "sync_failing",
            failures >= settings.alert_failed_runs,
            f"the last {failures} sync runs failed: {error or state.last_error}"
            if failures
            else "the last sync run succeeded",
            {
                "consecutive_failures": failures,
                "failed_runs_limit": settings.alert_failed_runs,
                "last_error": error or state.last_error,
            },
        )
    ]
    if state.synced_until is None:  # never synced: nothing to judge the data on
        return verdicts
    end = _midnight(today)
    window = settings.alert_window_hours
    looked = max(window, settings.alert_gap_hours) + 24
    first_day = (end - timedelta(hours=looked)).date()
    points = list(datapoints.read_hours(plant_id, first_day, today))
    in_window = [p for p in points if p.hour >= end - timedelta(hours=window)]
    expected = math.fsum(p.expected_energy for p in in_window)
    observed = math.fsum(p.observed_energy for p in in_window)
    enough = len(in_window) >= settings.alert_min_hours and expected > 0
    ratio = observed / expected if expected > 0 else None
    verdicts.append(
        Verdict(
            "underperformance",
            (ratio is not None and ratio < settings.alert_ratio_threshold) if enough else None,
            f"observed energy is {ratio:.1%} of expected over the last {window} hours"
            if ratio is not None
            else "no expected energy in the window",
            {
                "window_hours": window,
                "window_start": (end - timedelta(hours=window)).isoformat(),
                "window_end": end.isoformat(),
                "hours_present": len(in_window),
                "min_hours": settings.alert_min_hours,
                "expected_energy": round(expected, 6),
                "observed_energy": round(observed, 6),
                "ratio": None if ratio is None else round(ratio, 6),
                "threshold": settings.alert_ratio_threshold,
            },
        )
    )
    latest = max((p.hour for p in points), default=None)
    since = (end - latest - timedelta(hours=1)) / timedelta(hours=1) if latest else None
    missing = len(state.missing_days)
    stale = since is None or since > settings.alert_gap_hours
    gappy = missing > settings.alert_max_missing_days
    reasons = []
    if stale:
        reasons.append(
            f"no hour stored in the {since:g} hours before {end:%Y-%m-%d}"
            if since is not None
            else f"no hour stored in the {looked} hours before {end:%Y-%m-%d}"
        )
    if gappy:
        reasons.append(f"{missing} days inside the synced range lack hours")
    verdicts.append(
        Verdict(
            "data_gap",
            stale or gappy,
            "; ".join(reasons) or "data is complete and recent",
            {
                "latest_hour": latest.isoformat() if latest else None,
                "hours_without_data": since if since is not None else float(looked),
                "gap_hours_limit": settings.alert_gap_hours,
                "missing_days": missing,
                "missing_days_limit": settings.alert_max_missing_days,
            },
        )
    )
    return verdicts


def after_sync(
    plant_id: int, account_id: str, status: str, error: str | None, state: SyncState, today: date
) -> None:
    """Judge the alerts of the plant (of `account_id`) after a run (sync.py calls it); never
    raises: a failure here is logged and must not fail the sync (the next run judges again)."""
    if status not in ("done", "partial", "failed"):
        return
    try:
        if status == "partial":
            failures = storage.record_run_peek(plant_id)
        else:
            failures = storage.record_run(plant_id, status == "failed", error)
        transitions = write(plant_id, account_id, judge(plant_id, status, error, state, today, failures))
        if not _plant_exists(plant_id):
            # Deleted during this run: the stream's purge may have run before these writes, and
            # would leave them forever. Its openings are not announced; its items are removed.
            transitions = [t for t in transitions if t[0] != "opened"]
            removed = storage.delete_plant_alerts(plant_id)
            logger.info(
                "plant deleted while its alerts were judged; they are removed",
                extra={"plant_id": plant_id, "items": removed},
            )
        publish([(t, a, "opened" if t == "opened" else "cleared") for t, a in transitions])
    except Exception:
        logger.exception("alert evaluation failed", extra={"plant_id": plant_id})


def adopt_legacy_alerts(dry_run: bool = False) -> tuple[int, int]:
    """Give the open alerts opened before accounts existed their plant's account, which lists
    them among its open alerts from then on: (found, adopted). Safe to repeat and to stop at any
    point. An alert whose plant is gone (its purge is under way) goes to the default account."""
    from powerfactor.plants import store as plants

    found = storage.open_alerts_without_account()
    if dry_run:
        return len(found), 0
    owners: dict[int, str] = {}
    adopted = 0
    for plant_id, sk in found:
        if plant_id not in owners:
            try:
                owners[plant_id] = plants.get_plant(plant_id).account_id
            except PlantNotFound:
                owners[plant_id] = DEFAULT_ACCOUNT
        adopted += storage.adopt_alert(plant_id, sk, owners[plant_id])
    return len(found), adopted


def _plant_exists(plant_id: int) -> bool:
    """A consistent read of the plant, after the alert writes: a deletion (and so the stream's
    purge) that came before them is seen here; one after this read is followed by a purge that
    sees them."""
    from powerfactor.plants import store as plants

    try:
        plants.get_plant(plant_id)
    except PlantNotFound:
        return False
    return True


def apply(
    plant_id: int, account_id: str, verdicts: Iterable[Verdict], now: datetime | None = None
) -> list[tuple[str, Alert]]:
    """Open, update or resolve the plant's alerts by these verdicts; publish each opening and
    resolution. Returns the transitions made, as (`opened` | `resolved`, alert)."""
    transitions = write(plant_id, account_id, verdicts, now)
    publish([(t, a, "opened" if t == "opened" else "cleared") for t, a in transitions])
    return transitions


def write(
    plant_id: int, account_id: str, verdicts: Iterable[Verdict], now: datetime | None = None
) -> list[tuple[str, Alert]]:
    """Open, update or resolve the alerts of the plant (of `account_id`) by these verdicts,
    publishing nothing; the transitions made, as (`opened` | `resolved`, alert)."""
    now = now or datetime.now(UTC)
    current = {alert.kind: alert for alert in storage.open_alerts(plant_id)}
    transitions: list[tuple[str, Alert]] = []
    for verdict in verdicts:
        alert = current.get(verdict.kind)
        if verdict.active is None:
            continue
        if verdict.active and alert is None:
            alert = Alert(
                id=storage.new_alert_id(verdict.kind, now),
                plant_id=plant_id,
                kind=verdict.kind,
                state="open",
                message=verdict.message,
                figures=verdict.figures,
                opened_at=now,
                updated_at=now,
            ).owned_by(account_id)
            if storage.insert_alert(alert):
                transitions.append(("opened", alert))
        elif verdict.active and alert is not None:
            storage.update_alert(
                alert.model_copy(
                    update={"figures": verdict.figures, "message": verdict.message, "updated_at": now}
                )
            )
        elif not verdict.active and alert is not None:
            resolved = alert.model_copy(
                update={
                    "state": "resolved",
                    "figures": verdict.figures,
                    "message": verdict.message,
                    "updated_at": now,
                    "resolved_at": now,
                }
            )
            if storage.resolve_alert(resolved):
                transitions.append(("resolved", resolved))
    return transitions


def purge_plant(plant_id: int) -> int:
    """A deleted plant: resolve its open alerts (published, reason `plant_deleted`), then delete
    all its alert items. Returns how many items were deleted."""
    now = datetime.now(UTC)
    resolved = []
    for alert in storage.open_alerts(plant_id):
        closed = alert.model_copy(
            update={
                "state": "resolved",
                "updated_at": now,
                "resolved_at": now,
                "message": f"plant deleted; was: {alert.message}",
            }
        )
        if storage.resolve_alert(closed):
            resolved.append(("resolved", closed, "plant_deleted"))
    publish(resolved)
    return storage.delete_plant_alerts(plant_id)


# ---- events -------------------------------------------------------------------------------------


def event_detail(alert: Alert, reason: str) -> dict[str, Any]:
    """The `detail` of an alert's event (schema in the module docstring)."""
    return {
        "version": DETAIL_VERSION,
        "alert_id": alert.id,
        "account_id": alert.account_id,
        "plant_id": alert.plant_id,
        "kind": alert.kind,
        "state": alert.state,
        "message": alert.message,
        "figures": alert.figures,
        "opened_at": alert.opened_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "reason": reason,
    }


_client: tuple[Settings, Any] | None = None


def _events(settings: Settings) -> Any:
    global _client
    if _client is None or _client[0] is not settings:
        import boto3  # here: the API functions import this module, and only the sync publishes
        from botocore.config import Config

        config = Config(
            connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 3, "mode": "standard"}
        )
        _client = (
            settings,
            boto3.client(
                "events", endpoint_url=settings.events_endpoint, region_name=settings.region, config=config
            ),
        )
    return _client[1]


def publish(transitions: list[tuple[str, Alert, str]]) -> int:
    """Put one event per transition on the alert bus (ten per PutEvents); how many it took.
    Without a bus (ALERT_BUS_NAME unset) the events are only logged."""
    settings = get_settings()
    entries = []
    for transition, alert, reason in transitions:
        detail = event_detail(alert, reason)
        detail_type = f"alert.{alert.kind}.{transition}"
        logger.info("alert event", extra={"detail_type": detail_type, "detail": detail})
        entries.append(
            {
                "Source": SOURCE,
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
                "EventBusName": settings.alert_bus_name or "default",
            }
        )
    return _put(entries, settings)


def _put(entries: list[dict[str, Any]], settings: Settings) -> int:
    """PutEvents of these entries, ten at a time; how many the bus took (none without a bus)."""
    if not entries or not settings.alert_bus_name:
        return 0
    taken = 0
    for start in range(0, len(entries), 10):
        batch = entries[start : start + 10]
        try:
            response = _events(settings).put_events(Entries=batch)
        except Exception:
            logger.exception("events not published", extra={"events": len(batch)})
            continue
        failed = int(response.get("FailedEntryCount", 0))
        if failed:
            logger.error("events refused", extra={"entries": response.get("Entries")})
        taken += len(batch) - failed
    return taken


def revised_detail(plant_id: int, account_id: str, revised: Revised) -> dict[str, Any]:
    """The `detail` of a data.revised event (schema in the module docstring)."""
    first, last = revised.first, revised.last
    return {
        "version": DETAIL_VERSION,
        "account_id": account_id,
        "plant_id": plant_id,
        "cause": revised.cause.kind,
        "resync_id": revised.cause.resync_id,
        "key_id": revised.cause.key_id,
        "why": revised.cause.why,
        **revised.counts,
        "from": first.isoformat() if first else None,
        "to": last.isoformat() if last else None,
        "revisions": f"/api/solar-plant/plant/{plant_id}/revisions?from={first}&to={last}",
    }


def publish_revised(plant_id: int, account_id: str, revised: list[Revised]) -> int:
    """One data.revised event per cause that changed stored history of the plant (of
    `account_id`); how many the bus took.
    Never raises: the revisions are stored, an event lost is logged."""
    try:
        settings = get_settings()
        entries = []
        for each in revised:
            detail = revised_detail(plant_id, account_id, each)
            logger.info("data revised", extra={"detail": detail})
            entries.append(
                {
                    "Source": DATA_SOURCE,
                    "DetailType": "data.revised",
                    "Detail": json.dumps(detail),
                    "EventBusName": settings.alert_bus_name or "default",
                }
            )
        return _put(entries, settings)
    except Exception:
        logger.exception("data.revised events not published", extra={"plant_id": plant_id})
        return 0


# ---- the API's lists ----------------------------------------------------------------------------


# What alert cursors hold: an alert id (`<opened_at>#<kind>`, storage.new_alert_id) and an open
# alert's index key (`<opened_at>#<plant id>#<kind>`). A forged cursor is refused unless it has
# that shape: no other text reaches a key condition (DynamoDB refuses keys with lone surrogates).
_OPENED_AT = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00"
_KIND = "(?:underperformance|data_gap|sync_failing)"
_ALERT_ID = re.compile(rf"{_OPENED_AT}#{_KIND}")
_OPEN_KEY = re.compile(rf"{_OPENED_AT}#[1-9][0-9]{{0,15}}#{_KIND}")


def _position(cursor: str, kind: str, request: str, principal: Principal, shape: re.Pattern[str]) -> str:
    after = cursors.decode(cursor, kind, request, principal.scope_key)
    if not shape.fullmatch(after):
        raise InvalidCursor()
    return after


def plant_alerts(
    principal: Principal,
    plant_id: int,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    state: str | None = None,
) -> AlertPage:
    """One page of a plant's alerts, newest first (PlantNotFound for an unknown plant, or one the
    caller does not reach)."""
    from powerfactor.plants.logic import get_plant

    get_plant(principal, plant_id)
    request = f"{plant_id}/{state or ''}"
    before = _position(cursor, "plant-alerts", request, principal, _ALERT_ID) if cursor else None
    items, more = storage.list_plant_alerts(plant_id, limit, before, state)
    last = items[-1].id if more and items else None
    next_cursor = cursors.encode("plant-alerts", last, request, principal.scope_key) if last else None
    return AlertPage(items=items, next_cursor=next_cursor)


def open_alerts(principal: Principal, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None) -> AlertPage:
    """One page of the open alerts of the plants the caller reaches, oldest first: its account's
    partition of the open alerts' index (for a restricted key, those of its plants and of its
    portfolios' first 100 plants). Plants shared with the account are not listed here: their
    alerts are at `/plant/{id}/alerts`."""
    from powerfactor.plants.logic import restriction_plants

    after = _position(cursor, "open-alerts", "", principal, _OPEN_KEY) if cursor else None
    only = principal.plants if principal.portfolios is None else restriction_plants(principal, 100)
    items, last = storage.list_open(principal.account_id, limit, after, only)
    next_cursor = cursors.encode("open-alerts", last, "", principal.scope_key) if last else None
    return AlertPage(items=items, next_cursor=next_cursor)
