"""The sync against DynamoDB Local and the monitoring simulator, hour by hour."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from devstack.monitoring import PROFILES
from powerfactor.datapoints import store as datapoints
from powerfactor.plants import logic as plants
from powerfactor.plants import store as plant_storage
from powerfactor.sync import run as sync
from powerfactor.sync.lifecycle import purge_plant
from powerfactor.sync.run import REFRESH_DAYS, horizon, sync_plant, years_before
from powerfactor.sync.vendor import MonitoringClient, month_chunks
from tests.support import OWNER, simulated

TODAY = date(2024, 3, 2)  # the day after a leap day; the horizon crosses 29 February
YESTERDAY = TODAY - timedelta(days=1)


@pytest.fixture
def client(simulator) -> Iterator[MonitoringClient]:
    yield MonitoringClient(
        simulator.url,
        read_timeout=0.5,
        backoff_initial=0.02,
        backoff_max=0.1,
        max_attempts=8,
        today=lambda: TODAY,
    )


def stored(plant_id: int, start: date, end: date) -> list:
    return list(datapoints.read_hours(plant_id, start, end))


def test_new_plant_gets_yesterday_then_the_backfill(sync_env, client) -> None:
    sync_env(every_run=1, until_years=2)
    plant = plants.create_plant(OWNER, "Backfilled")
    outcome = sync_plant(plant.id, client, today=TODAY)
    assert outcome.status == "done" and outcome.missing_days == 0
    start = years_before(YESTERDAY, 1)
    assert stored(plant.id, start - timedelta(days=5), TODAY + timedelta(days=5)) == simulated(
        plant.id, start, TODAY
    )
    state = plants.get_plant(OWNER, plant.id).sync
    assert (state.history_from, state.synced_until, state.missing_days) == (start, TODAY, [])
    assert state.last_success_at is not None and state.last_error is None


def test_each_run_backfills_the_next_years_until_the_horizon_and_no_further(
    sync_env, client, simulator
) -> None:
    sync_env(every_run=1, until_years=2)
    plant = plants.create_plant(OWNER, "Horizon")
    sync_plant(plant.id, client, today=TODAY)
    first_requests = simulator.requests
    sync_plant(plant.id, client, today=TODAY)  # second year: from the horizon to a year ago
    oldest = horizon(TODAY, 2)
    assert oldest == date(2022, 3, 2)
    assert stored(plant.id, date(2020, 1, 1), TODAY) == simulated(plant.id, oldest, TODAY)
    # the recent week (two months: two requests), then the 12 months from the horizon to the
    # oldest stored day: the year already stored is not fetched again
    recent = len(list(month_chunks(TODAY - timedelta(days=REFRESH_DAYS), TODAY)))
    assert recent == 2
    assert simulator.requests - first_requests == recent + 12
    before = simulator.requests
    outcome = sync_plant(plant.id, client, today=TODAY)  # nothing left to backfill
    assert outcome.status == "done" and simulator.requests - before == recent
    assert plants.get_plant(OWNER, plant.id).sync.history_from == oldest


def test_days_at_year_ends_and_the_day_before_yesterday_are_stored(sync_env, client) -> None:
    sync_env(every_run=2, until_years=3)
    plant = plants.create_plant(OWNER, "Edges")
    sync_plant(plant.id, client, today=TODAY)
    for day in (date(2022, 12, 31), date(2023, 12, 31), TODAY - timedelta(days=2), date(2024, 2, 29)):
        assert len(stored(plant.id, day, day + timedelta(days=1))) == 24, day


def test_a_plant_whose_service_returns_nothing_does_not_crash_the_sync(sync_env, client, simulator) -> None:
    simulator.profile = replace(simulator.profile, drop_rate=1.0)  # empty arrays
    plant = plants.create_plant(OWNER, "Empty")
    outcome = sync_plant(plant.id, client, today=TODAY)
    assert outcome.status == "done" and outcome.hours_stored == 0
    assert YESTERDAY in plants.get_plant(OWNER, plant.id).sync.missing_days
    simulator.profile = PROFILES["quiet"]
    sync_plant(plant.id, client, today=TODAY)
    assert plants.get_plant(OWNER, plant.id).sync.missing_days == []
    assert len(stored(plant.id, YESTERDAY, TODAY)) == 24


def test_a_failing_service_records_the_error_and_loses_nothing(sync_env, client, simulator) -> None:
    plant = plants.create_plant(OWNER, "Down")
    sync_plant(plant.id, client, today=TODAY)
    before = stored(plant.id, date(2020, 1, 1), TODAY)
    simulator.force(*["503"] * 8)
    tomorrow = TODAY + timedelta(days=1)
    client.today = lambda: tomorrow
    outcome = sync_plant(plant.id, client, today=tomorrow)
    assert outcome.status == "failed"
    state = plants.get_plant(OWNER, plant.id).sync
    assert "503" in state.last_error and state.synced_until == TODAY
    assert stored(plant.id, date(2020, 1, 1), TODAY) == before


def test_a_partial_response_never_erases_stored_hours(sync_env, client, simulator) -> None:
    plant = plants.create_plant(OWNER, "Partial")
    sync_plant(plant.id, client, today=TODAY)
    simulator.profile = replace(simulator.profile, drop_rate=0.5)
    client.refetch_rounds = 0
    sync_plant(plant.id, client, today=TODAY)
    assert stored(plant.id, YESTERDAY - timedelta(days=6), TODAY) == simulated(
        plant.id, YESTERDAY - timedelta(days=6), TODAY
    )


def test_resync_is_idempotent(sync_env, client) -> None:
    sync_env(every_run=1, until_years=1)
    plant = plants.create_plant(OWNER, "Twice")
    sync_plant(plant.id, client, today=TODAY)
    first = stored(plant.id, date(2020, 1, 1), TODAY)
    sync_plant(plant.id, client, today=TODAY)
    assert stored(plant.id, date(2020, 1, 1), TODAY) == first
    assert len({p.hour for p in first}) == len(first)


@pytest.mark.parametrize("save_every", [0.0, 3600.0])
def test_a_plant_deleted_during_its_sync_leaves_no_data(
    sync_env, client, simulator, monkeypatch, save_every
) -> None:
    """The run notices at its next save: at once when it saves every chunk, at its final save
    when it never checkpoints; either way nothing of the plant is left."""
    monkeypatch.setattr(sync, "SAVE_EVERY_SECONDS", save_every)
    plant = plants.create_plant(OWNER, "Doomed")
    original = datapoints.DayWriter.write
    calls = []

    def delete_after_third_write(writer, points):  # the API deletes the plant mid-backfill
        result = original(writer, points)
        calls.append(1)
        if len(calls) == 3:
            plants.delete_plant(OWNER, writer.plant_id)
        return result

    monkeypatch.setattr(datapoints.DayWriter, "write", delete_after_third_write)
    outcome = sync_plant(plant.id, client, today=TODAY)
    every_month = 1 + len(list(month_chunks(years_before(YESTERDAY, 1), YESTERDAY)))
    assert outcome.status == "deleted" and len(calls) == (3 if save_every == 0 else every_month)
    assert stored(plant.id, date(2000, 1, 1), TODAY) == []
    assert datapoints.read_day_sums(plant.id, date(2000, 1, 1), TODAY) == {}


@pytest.mark.parametrize("save_every", [0.0, 3600.0])
def test_a_run_whose_lease_is_taken_stops_and_keeps_every_stored_hour(
    sync_env, client, monkeypatch, save_every
) -> None:
    """Another run takes the lease mid-backfill (to it, this run's lease looks expired): this
    run stops at its next save without deleting anything, and leaves the other run's lease."""
    monkeypatch.setattr(sync, "SAVE_EVERY_SECONDS", save_every)
    plant = plants.create_plant(OWNER, "Contested")
    original = datapoints.DayWriter.write
    written = []

    def steal_after_third_write(writer, points):
        result = original(writer, points)
        written.append(points)
        if len(written) == 3:
            expired = datetime.now(UTC) + timedelta(seconds=sync.LEASE_SECONDS + 1)
            assert plant_storage.acquire_sync_lease(writer.plant_id, "another run", expired, 600) is not None
        return result

    monkeypatch.setattr(datapoints.DayWriter, "write", steal_after_third_write)
    outcome = sync_plant(plant.id, client, today=TODAY)
    hours = sorted((p for points in written for p in points), key=lambda p: p.hour)
    assert len(hours) >= 3 * 24
    assert stored(plant.id, date(2000, 1, 1), TODAY) == hours  # every stored hour survives
    every_month = 1 + len(list(month_chunks(years_before(YESTERDAY, 1), YESTERDAY)))
    assert outcome.status == "lost" and len(written) == (3 if save_every == 0 else every_month)
    assert plants.get_plant(OWNER, plant.id).name == "Contested"
    assert plant_storage.acquire_sync_lease(plant.id, "a third run", datetime.now(UTC), 600) is None


def test_progress_is_saved_every_few_seconds_not_every_month(sync_env, client, monkeypatch) -> None:
    saves = []
    original = plant_storage.save_sync_state
    monkeypatch.setattr(plant_storage, "save_sync_state", lambda *a: saves.append(1) or original(*a))
    monkeypatch.setattr(sync, "SAVE_EVERY_SECONDS", 3600.0)
    sync_plant(plants.create_plant(OWNER, "Quick").id, client, today=TODAY)
    assert len(saves) == 2  # the first chunk, and the end of the run (13 chunks in all)
    monkeypatch.setattr(sync, "SAVE_EVERY_SECONDS", 0.0)
    saves.clear()
    sync_plant(plants.create_plant(OWNER, "Careful").id, client, today=TODAY)
    assert len(saves) == 14


@pytest.mark.parametrize("failing_write", [None, 6])
def test_saved_progress_never_covers_hours_not_yet_stored(
    sync_env, client, monkeypatch, failing_write
) -> None:
    """A chunk's last partial batch waits for the next chunk's items (`datapoints.DayWriter`):
    at every save (one per chunk here) the saved range is stored in full, and a run stopped by
    a failing DynamoDB write leaves a saved range that is stored in full."""
    monkeypatch.setattr(sync, "SAVE_EVERY_SECONDS", 0.0)
    plant = plants.create_plant(OWNER, "Checked")
    original, saved = plant_storage.save_sync_state, []

    def checked_save(plant_id, owner, state):
        if state.history_from is not None:
            first, end = state.history_from, state.synced_until
            assert stored(plant_id, first, end) == simulated(plant_id, first, end), (first, end)
            saved.append(first)
        return original(plant_id, owner, state)

    monkeypatch.setattr(plant_storage, "save_sync_state", checked_save)
    batch_write, writes = datapoints._batch_write, []

    def failing_batch_write(items):
        writes.append(len(items))
        if len([n for n in writes if n]) == failing_write:
            raise RuntimeError("DynamoDB is down")
        batch_write(items)

    monkeypatch.setattr(datapoints, "_batch_write", failing_batch_write)
    if failing_write:
        with pytest.raises(RuntimeError, match="down"):
            sync_plant(plant.id, client, today=TODAY)
        assert 1 < len(saved) < 13
    else:
        assert sync_plant(plant.id, client, today=TODAY).status == "done" and len(saved) == 14
    state = plants.get_plant(OWNER, plant.id).sync
    assert (state.history_from, state.synced_until) == (saved[-1], TODAY)
    assert stored(plant.id, saved[-1], TODAY) == simulated(plant.id, saved[-1], TODAY)


def test_sync_of_an_unknown_plant_is_a_no_op(sync_env, client, simulator) -> None:
    assert sync_plant(999, client, today=TODAY).status == "deleted"
    assert simulator.requests == 0


def test_one_sync_per_plant_at_a_time(sync_env, client) -> None:
    plant = plants.create_plant(OWNER, "Leased")
    assert plant_storage.acquire_sync_lease(plant.id, "another run", datetime.now(UTC), 600) is not None
    assert sync_plant(plant.id, client, today=TODAY).status == "busy"


def test_time_budget_saves_progress_and_a_continuation_finishes(sync_env, simulator) -> None:
    sync_env(every_run=2, until_years=2)
    plant = plants.create_plant(OWNER, "Budget")
    budget = iter([60_000] * 10 + [0] * 1000)
    short = MonitoringClient(simulator.url, remaining_ms=lambda: next(budget), today=lambda: TODAY)
    outcome = sync_plant(plant.id, short, today=TODAY)
    assert outcome.status == "partial"
    partial = plants.get_plant(OWNER, plant.id).sync
    assert partial.history_from is not None and partial.history_from > horizon(TODAY, 2)
    full = MonitoringClient(simulator.url, today=lambda: TODAY)
    assert sync_plant(plant.id, full, today=TODAY).status == "done"
    oldest = horizon(TODAY, 2)
    assert stored(plant.id, date(2020, 1, 1), TODAY) == simulated(plant.id, oldest, TODAY)


def test_chaos_daily_runs_converge_to_the_complete_history(sync_env, client, simulator) -> None:
    sync_env(every_run=1, until_years=1)
    simulator.profile = replace(PROFILES["chaos"], slow_seconds=0.6, down_seconds=0.2)
    plant = plants.create_plant(OWNER, "Chaos")
    for _ in range(6):
        sync_plant(plant.id, client, today=TODAY)
        state = plants.get_plant(OWNER, plant.id).sync
        if state.history_from == horizon(TODAY, 1) and not state.missing_days and state.last_error is None:
            break
    oldest = horizon(TODAY, 1)
    got = stored(plant.id, date(2020, 1, 1), TODAY)
    assert len({p.hour for p in got}) == len(got)  # no duplicates
    assert got == simulated(plant.id, oldest, TODAY)  # no gaps, nothing else
    plants.delete_plant(OWNER, plant.id)
    purge_plant(plant.id)  # what the stream's REMOVE record triggers
    assert stored(plant.id, date(2000, 1, 1), TODAY) == []


def test_nothing_before_the_commissioning_day_is_asked_for(sync_env, client, simulator, monkeypatch) -> None:
    sync_env(every_run=5, until_years=5)
    commissioned = date(2023, 6, 15)
    plant = plants.create_plant(OWNER, "Young", commissioned_on=commissioned)
    asked: list[tuple[date, date]] = []
    body = simulator.body
    monkeypatch.setattr(simulator, "body", lambda p, s, e: asked.append((s, e)) or body(p, s, e))
    assert sync_plant(plant.id, client, today=TODAY).status == "done"
    assert sync_plant(plant.id, client, today=TODAY).status == "done"
    assert asked and min(start for start, _ in asked) == commissioned
    assert stored(plant.id, date(2020, 1, 1), TODAY) == simulated(plant.id, commissioned, TODAY)
    state = plants.get_plant(OWNER, plant.id).sync
    assert state.history_from == commissioned and state.missing_days == []
