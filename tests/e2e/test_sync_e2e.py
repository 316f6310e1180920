"""End to end: the sync through the local stack, driven over HTTP (stream -> queue -> worker).

The same with a flaky service is test_sync_flaky_e2e.py, a module of its own so that it runs beside these.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.fleet import seed_synced_plants, synced_since
from devstack.stack import Stack, aws_client, dynamodb_client
from powerfactor.datapoints import store as datapoints
from powerfactor.plants import store as plant_storage
from powerfactor.sync.run import horizon
from tests.support import fully_synced, http, simulated, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # the waits' caps decide, not pytest-timeout's 300 s


@pytest.fixture(scope="module")
def stack(sync_stack: Stack) -> Stack:
    return sync_stack


def test_a_plant_created_over_http_is_backfilled_hour_by_hour(stack, read_storage) -> None:
    status, plant = http(stack, "POST", "/api/solar-plant/", {"name": "Backfill E2E"})
    assert status == 201
    today = datetime.now(UTC).date()
    wait_for(lambda: fully_synced(stack, plant["id"], today), "the backfill")
    oldest = horizon(today, 1)
    stored = list(datapoints.read_hours(plant["id"], oldest - timedelta(days=30), today + timedelta(days=2)))
    assert stored == simulated(plant["id"], oldest, today)


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
        wait_for(lambda: synced_since(client, ids, started_at) == FLEET, f"{name}: every plant synced")
        seconds = (datetime.now(UTC) - started_at).total_seconds()
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
