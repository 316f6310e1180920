"""End to end: the sync through the local stack, driven over HTTP (stream -> queue -> worker)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from devstack.dynamodb import free_port
from devstack.fleet import seed_synced_plants, synced_since
from devstack.monitoring import PROFILES
from devstack.stack import Stack, StackConfig, dynamodb_client, function_environment
from powerfactor.settings import reset_settings
from powerfactor.storage import datapoints
from powerfactor.storage import plants as plant_storage
from powerfactor.sync import horizon
from tests.support import simulated

pytestmark = pytest.mark.e2e


def http(stack: Stack, method: str, path: str, body: object = None) -> tuple[int, object]:
    """A request to the stack's API with its development key."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {stack.dev_key[0]}"}
    request = urllib.request.Request(stack.api_url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.5)
    pytest.fail(f"timed out after {seconds}s waiting for {what}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        api_port=free_port(), dynamodb_port=free_port(), monitoring_port=free_port(), sqs_port=free_port(),
        parameters={"SyncUntilYear": "1", "SyncEveryRun": "1", "MonitoringReadTimeout": "2"},
        schedule_interval=3600, dev_key_file=tmp_path_factory.mktemp("stack") / "api-key",
    )  # fmt: skip
    running = Stack(config)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def read_storage(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point this process's storage code at the stack's DynamoDB, to check what it holds."""
    env = function_environment(stack.template, {"DynamoDbEndpoint": stack.dynamodb.endpoint})
    for key, value in env["SyncWorkerFunction"].items():
        monkeypatch.setenv(key, value)
    reset_settings()
    yield
    reset_settings()


def plant_state(stack: Stack, plant_id: int) -> dict:
    return http(stack, "GET", f"/api/solar-plant/plant/{plant_id}")[1]["sync"]


def fully_synced(stack: Stack, plant_id: int, today: date) -> bool:
    state = plant_state(stack, plant_id)
    return (
        state["history_from"] == horizon(today, 1).isoformat()
        and state["synced_until"] == today.isoformat()
        and not state["missing_days"]
        and state["last_error"] is None
    )


def test_a_plant_created_over_http_is_backfilled_hour_by_hour(stack, read_storage) -> None:
    status, plant = http(stack, "POST", "/api/solar-plant/", {"name": "Backfill E2E"})
    assert status == 201
    today = datetime.now(UTC).date()
    wait_for(lambda: fully_synced(stack, plant["id"], today), 120, "the backfill")
    oldest = horizon(today, 1)
    stored = list(datapoints.read_hours(plant["id"], oldest - timedelta(days=30), today + timedelta(days=2)))
    assert stored == simulated(plant["id"], oldest, today)


def test_under_chaos_daily_runs_complete_the_history_and_a_delete_leaves_nothing(stack, read_storage) -> None:
    stack.monitoring.profile = replace(PROFILES["chaos"], slow_seconds=3, down_seconds=0.5)
    try:
        status, plant = http(stack, "POST", "/api/solar-plant/", {"name": "Chaos E2E"})
        assert status == 201
        today = datetime.now(UTC).date()
        for _ in range(8):  # the daily sync, run as often as it takes
            if fully_synced(stack, plant["id"], today):
                break
            time.sleep(5)
            http(stack, "POST", "/__devstack/schedules")
        wait_for(lambda: fully_synced(stack, plant["id"], today), 180, "convergence under chaos")
    finally:
        stack.monitoring.profile = PROFILES["quiet"]
    oldest = horizon(today, 1)
    stored = list(datapoints.read_hours(plant["id"], oldest - timedelta(days=30), today + timedelta(days=2)))
    assert len({p.hour for p in stored}) == len(stored)  # no duplicates
    assert stored == simulated(plant["id"], oldest, today)  # no gaps, nothing else
    assert http(stack, "DELETE", f"/api/solar-plant/plant/{plant['id']}")[0] == 204
    wait_for(
        lambda: (
            not list(datapoints.read_hours(plant["id"], date(2000, 1, 1), today))
            and not datapoints.read_day_sums(plant["id"], date(2000, 1, 1), today)
        ),
        60,
        "the deleted plant's data to go",
    )


@pytest.mark.timeout(900)
def test_daily_fan_out_syncs_a_thousand_plants(stack, read_storage) -> None:
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    ids = list(range(100_001, 101_001))
    client = dynamodb_client(stack.dynamodb.endpoint)
    others = len(list(plant_storage.plant_ids()))  # plants left by the other tests of this module
    seed_synced_plants(client, ids, today)

    def synced(moment: datetime) -> int:
        return synced_since(client, ids, moment)

    wait_for(lambda: synced(datetime(2000, 1, 1, tzinfo=UTC)) == 1000, 300, "the new plants' syncs")
    fired = datetime.now(UTC)
    assert http(stack, "POST", "/__devstack/schedules") == (
        200,
        {"DailySyncFunction": {"queued": 1000 + others}},
    )
    seconds = wait_for(lambda: synced(fired) == 1000, 300, "the daily fan-out")
    print(f"\ndaily fan-out: 1000 plants synced in {seconds:.1f}s")
    for plant_id in ids:
        assert datapoints.read_day_sums(plant_id, yesterday, today)[yesterday].hours == 24
