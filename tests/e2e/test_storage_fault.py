"""A fault during a sync is visible and short (issue 23): DynamoDB Local frozen for 20 s in the
middle of a new plant's 300-day backfill, on a started local stack.

The run fails on DynamoDB's timeouts, records its failure once DynamoDB answers again (the state
it last saved, which is true of what is stored, with `last_error`), releases its lease, and its
job comes back after the worker's short backoff instead of the queue's 30-minute visibility
timeout: the backfill completes within minutes, and meanwhile the plant says what happened.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from devstack.stack import Stack
from powerfactor.datapoints import store as datapoints
from tests.support import http, in_process_stack, plant_state, wait_for

pytestmark = pytest.mark.e2e

HANG_SECONDS = 20  # how long the fault lasts (the fault itself, not a wait for a condition)
BACKFILL_DAYS = 300


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with in_process_stack(tmp_path_factory.mktemp("storage-fault"), MonitoringReadTimeout="2") as running:
        yield running


def _days_stored_whole(plant_id: int, start: date, end: date) -> set[date]:
    return {day for day, sums in datapoints.read_day_sums(plant_id, start, end).items() if sums.hours == 24}


def test_a_backfill_interrupted_by_a_dynamodb_hang_finishes_soon_and_says_what_happened(
    stack: Stack, read_storage: None
) -> None:
    assert stack.monitoring is not None and stack.dynamodb is not None
    today = datetime.now(UTC).date()
    commissioned = today - timedelta(days=BACKFILL_DAYS)
    quiet = stack.monitoring.profile
    # every answer takes 0.3 s: the backfill's ten months take seconds, long enough to freeze midway
    stack.monitoring.profile = replace(quiet, slow_rate=1.0, slow_seconds=0.3)
    asked = stack.monitoring.requests
    body = {"name": "Frozen midway", "commissioned_on": commissioned.isoformat()}
    status, plant = http(stack, "POST", "/api/solar-plant/", body)
    assert status == 201, plant
    wait_for(lambda: stack.monitoring.requests >= asked + 4, "the backfill under way", cap=120)

    engine = stack.dynamodb.process.pid
    os.kill(engine, signal.SIGSTOP)
    try:
        threading.Event().wait(HANG_SECONDS)
    finally:
        os.kill(engine, signal.SIGCONT)
    stack.monitoring.profile = quiet

    def failure_told() -> dict | None:
        state = plant_state(stack, plant["id"])
        return state if state["last_error"] else None

    told = wait_for(failure_told, "the failed run's error on the plant", cap=120)
    assert "storage" in told["last_error"] and told["last_success_at"] is None
    # what it says is true: from history_from on, every day not listed missing is stored whole
    history_from = date.fromisoformat(told["history_from"])
    claimed = {history_from + timedelta(days=i) for i in range((today - history_from).days)}
    claimed -= {date.fromisoformat(day) for day in told["missing_days"]}
    assert claimed <= _days_stored_whole(plant["id"], history_from, today)

    def finished() -> dict | None:
        state = plant_state(stack, plant["id"])
        done = state["history_from"] == commissioned.isoformat() and state["last_success_at"] is not None
        return state if done else None

    # the job comes back after the worker's backoff (20 s after the failed receive): within the
    # cap, where the queue's 30-minute visibility timeout would not be
    done = wait_for(finished, "the backfill's completion after the hang", cap=240)
    assert done["last_error"] is None and done["missing_days"] == []
    assert _days_stored_whole(plant["id"], commissioned, today) == {
        commissioned + timedelta(days=i) for i in range(BACKFILL_DAYS)
    }
