"""End to end: the sync through the local stack, driven over HTTP (stream -> queue -> worker)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from devstack.dynamodb import free_port
from devstack.fleet import seed_synced_plants, synced_since
from devstack.monitoring import PROFILES
from devstack.stack import Stack, StackConfig, aws_client, dynamodb_client, function_environment
from powerfactor.settings import reset_settings
from powerfactor.storage import datapoints
from powerfactor.storage import plants as plant_storage
from powerfactor.sync import horizon
from tests.support import simulated

CAP_S = 240  # how long a wait may take before the test fails; waits end as soon as their condition holds
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # the caps decide, not pytest-timeout's 300 s


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


def wait_for(condition: Callable[[], bool], what: str, cap: float = CAP_S) -> float:
    """Poll the condition until it holds (the seconds that took); fail if it never does within the cap."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > cap:
            pytest.fail(f"{what}: not done after {cap} s")
        time.sleep(0.5)
    return time.monotonic() - started


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
    wait_for(lambda: fully_synced(stack, plant["id"], today), "the backfill")
    oldest = horizon(today, 1)
    stored = list(datapoints.read_hours(plant["id"], oldest - timedelta(days=30), today + timedelta(days=2)))
    assert stored == simulated(plant["id"], oldest, today)


def test_under_chaos_daily_runs_complete_the_history_and_a_delete_leaves_nothing(stack, read_storage) -> None:
    stack.monitoring.profile = replace(PROFILES["chaos"], slow_seconds=3, down_seconds=0.5)
    try:
        status, plant = http(stack, "POST", "/api/solar-plant/", {"name": "Chaos E2E"})
        assert status == 201
        today = datetime.now(UTC).date()
        fired = [time.monotonic()]

        def converged() -> bool:  # the daily sync, run every few seconds until it has converged
            if fully_synced(stack, plant["id"], today):
                return True
            if time.monotonic() - fired[0] > 5:
                http(stack, "POST", "/__devstack/schedules")
                fired[0] = time.monotonic()
            return False

        wait_for(converged, "convergence under chaos")
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
        "the deleted plant's data to go",
    )


FLEET = 60  # plants; `make bench` runs the same waves with 1,000 (bench/fanout.py)


def queues(stack: Stack) -> tuple[Any, dict[str, str]]:
    """An SQS client of the stack, and its queues' URLs by logical id."""
    sqs = aws_client("sqs", f"http://{stack.config.host}:{stack.config.sqs_port}")
    return sqs, {name: sqs.get_queue_url(QueueName=name)["QueueUrl"] for name in stack.template.queues()}


def queue_counts(stack: Stack) -> dict[str, tuple[int, int]]:
    """(visible, in flight) messages of each of the stack's queues."""
    sqs, urls = queues(stack)
    counts = {}
    for name, url in urls.items():
        got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        counts[name] = (
            int(got["ApproximateNumberOfMessages"]),
            int(got["ApproximateNumberOfMessagesNotVisible"]),
        )
    return counts


def start_from_empty_queues(stack: Stack) -> None:
    """Let the jobs earlier tests queued run, then drop what they left: a failed job stays in
    flight for the queue's visibility timeout (30 minutes), which is no concern of this test."""
    wait_for(lambda: queue_counts(stack)["SyncQueue"][0] == 0, "the jobs of earlier tests")
    sqs, urls = queues(stack)
    for url in urls.values():
        sqs.purge_queue(QueueUrl=url)


def test_daily_fan_out_syncs_every_plant_once_per_wave(stack, read_storage, monkeypatch) -> None:
    """Two waves through the stack, as `make bench` runs them: the plants' INSERTs (stream ->
    PlantStreamFunction -> SyncQueue -> worker), then the daily schedule (DailySyncFunction ->
    one job per plant). In each: every plant synced by exactly one worker run, at most
    SyncConcurrency runs at once, and then nothing left in any queue, in flight or dead-lettered."""
    runtime = stack.runtime
    concurrency = int({**stack.template.parameter_defaults(), **stack.config.parameters}["SyncConcurrency"])
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    ids = list(range(100_001, 100_001 + FLEET))
    client = dynamodb_client(stack.dynamodb.endpoint)
    others = len(list(plant_storage.plant_ids()))  # plants left by the other tests of this module
    start_from_empty_queues(stack)
    runs: Counter[int] = Counter()  # worker invocations per plant, this wave
    invoke = runtime.invoke  # the stack's SQS poller calls the runtime's invoke: count the jobs it runs

    def counting_invoke(name: str, event: dict) -> Any:
        if name == "SyncWorkerFunction":
            runs.update(json.loads(r["body"])["plant_id"] for r in event["Records"])
        return invoke(name, event)

    monkeypatch.setattr(runtime, "invoke", counting_invoke)
    empty = {name: (0, 0) for name in stack.template.queues()}

    def wave(name: str, trigger: Callable[[], object]) -> object:
        runs.clear()
        runtime.peak_concurrency.clear()
        started_at = datetime.now(UTC)
        result = trigger()
        seconds = wait_for(
            lambda: synced_since(client, ids, started_at) == FLEET, f"{name}: every plant synced"
        )
        wait_for(lambda: queue_counts(stack) == empty, f"{name}: every queue empty, nothing in flight")
        print(f"\n{name}: {FLEET} plants synced in {seconds:.1f} s")
        assert {i: runs[i] for i in ids} == dict.fromkeys(ids, 1), f"{name}: a plant not run exactly once"
        assert 1 <= runtime.peak_concurrency["SyncWorkerFunction"] <= concurrency
        return result

    wave("new plants", lambda: seed_synced_plants(client, ids, today))
    queued = wave("daily sync", lambda: http(stack, "POST", "/__devstack/schedules"))
    assert queued == (200, {"DailySyncFunction": {"queued": FLEET + others}})
    for plant_id in ids:
        assert datapoints.read_day_sums(plant_id, yesterday, today)[yesterday].hours == 24
