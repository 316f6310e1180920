"""Alerts and re-syncs against DynamoDB Local, the monitoring simulator and the local event bus:
each kind of alert driven open and closed by the simulator, its events delivered signed to a
webhook that verifies each, and a
re-sync that repairs a range hour by hour and removes nothing unless asked."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from devstack.eventbus import EventBus
from devstack.monitoring import PROFILES
from powerfactor.alerts import logic as alerts
from powerfactor.alerts import store as alert_storage
from powerfactor.alerts import webhook
from powerfactor.datapoints import store as datapoints
from powerfactor.datapoints.schemas import Datapoint
from powerfactor.plants import logic as plants
from powerfactor.plants import store as plant_storage
from powerfactor.runtime.errors import InvalidRange, ResyncPending
from powerfactor.sync import jobs, resync
from powerfactor.sync.lifecycle import purge_plant
from powerfactor.sync.run import sync_plant
from powerfactor.sync.vendor import MonitoringClient
from tests.support import OWNER, simulated, wait_for, webhook_receiver

TODAY = date(2024, 3, 2)
SECRET = "s3cret-of-at-least-32-characters-0123"


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict]]]:
    with webhook_receiver(SECRET) as receiver:
        yield receiver


@pytest.fixture
def bus(template, hook) -> Iterator[EventBus]:
    """The local EventBridge; what its webhook rule puts on the webhook's queue is delivered as
    the queue's function does (tests/e2e/test_alerts_e2e.py runs the function itself)."""

    def send(queue: str, body: str) -> None:
        assert queue == "AlertWebhookQueue"
        webhook.deliver(hook[0], [SECRET], body.encode())

    running = EventBus(template, {"AlertWebhookUrl": hook[0], "AlertWebhookSecret": SECRET}, send=send)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def env(local_aws, simulator, bus, use_function_env) -> None:
    use_function_env(
        "SyncWorkerFunction",
        DynamoDbEndpoint=local_aws,
        MonitoringServiceUrl=simulator.url,
        SyncEveryRun="1",
        SyncUntilYear="1",
        AlertFailedRuns="2",
        EventsEndpoint=bus.url,
    )


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[jobs.SyncJob, int]]:
    """The jobs sent to the sync queue, each with its delay (nothing reaches a queue)."""
    sent: list[tuple[jobs.SyncJob, int]] = []

    def enqueue(batch: list[jobs.SyncJob], delay_seconds: int = 0) -> int:
        sent.extend((job, delay_seconds) for job in batch)
        return len(batch)

    monkeypatch.setattr(jobs, "enqueue", enqueue)
    return sent


@pytest.fixture
def client(simulator) -> MonitoringClient:
    return MonitoringClient(
        simulator.url,
        read_timeout=0.5,
        backoff_initial=0.01,
        backoff_max=0.02,
        max_attempts=4,
        today=lambda: TODAY,
    )


def alerts_of(api, plant_id: int, state: str | None = None) -> list[dict]:
    query = f"?state={state}" if state else ""
    status, _, page = api("GET", f"/api/solar-plant/plant/{plant_id}/alerts{query}")
    assert status == 200, page
    return page["items"]


def events(hook, kind: str | None = None) -> list[dict]:
    """The alert events the webhook received (of this kind)."""
    alerts_only = [r["event"] for r in hook[1] if r["event"]["source"] == "powerfactor.alerts"]
    return [e for e in alerts_only if kind is None or e["detail"]["kind"] == kind]


def revised(hook) -> list[dict]:
    """The data.revised events the webhook received."""
    return [r["event"] for r in hook[1] if r["event"]["source"] == "powerfactor.data"]


def test_underperformance_opens_once_updates_and_resolves(env, api, client, simulator, hook) -> None:
    plant = plants.create_plant(OWNER, "Underperformer")
    assert sync_plant(plant.id, client, today=TODAY).status == "done"
    assert alerts_of(api, plant.id) == []
    simulator.set_factor(plant.id, 0.5)
    sync_plant(plant.id, client, today=TODAY)
    (alert,) = alerts_of(api, plant.id)
    assert (alert["kind"], alert["state"], alert["resolved_at"]) == ("underperformance", "open", None)
    assert 0.4 < alert["figures"]["ratio"] < 0.6 and alert["figures"]["hours_present"] == 168
    sync_plant(plant.id, client, today=TODAY)  # still true: updated, not opened again
    (again,) = alerts_of(api, plant.id)
    assert again["id"] == alert["id"] and again["updated_at"] > alert["updated_at"]
    status, _, page = api("GET", "/api/solar-plant/alerts?state=open")
    assert status == 200 and [a["id"] for a in page["items"]] == [alert["id"]]
    simulator.set_factor(plant.id, 1.0)
    sync_plant(plant.id, client, today=TODAY)
    (resolved,) = alerts_of(api, plant.id)
    assert resolved["state"] == "resolved" and resolved["resolved_at"] and resolved["figures"]["ratio"] > 0.7
    assert api("GET", "/api/solar-plant/alerts?state=open")[2]["items"] == []
    got = wait_for(lambda: len(events(hook)) == 2 and events(hook), "both events at the webhook", cap=20)
    assert [e["detail-type"] for e in got] == [
        "alert.underperformance.opened",
        "alert.underperformance.resolved",
    ]
    assert got[0]["source"] == "powerfactor.alerts" and got[0]["detail"]["version"] == 1
    assert got[0]["detail"]["alert_id"] == alert["id"] and got[1]["detail"]["reason"] == "cleared"
    # each factor change revised the refreshed week (7 days of hours), announced on the same path
    changes = wait_for(lambda: len(revised(hook)) == 2 and revised(hook), "both data.revised events", cap=20)
    week = (str(TODAY - timedelta(days=7)), str(TODAY - timedelta(days=1)))
    keys = ("cause", "changed", "from", "to")
    seen = [(e["detail-type"], *(e["detail"][k] for k in keys)) for e in changes]
    assert seen == [("data.revised", "daily", 168, *week)] * 2
    assert [r["refused"] for r in hook[1]] == [None] * 4  # each signature verified


def test_a_data_gap_opens_when_the_service_has_nothing_and_resolves_when_it_is_filled(
    env, api, client, simulator, hook
) -> None:
    simulator.profile = replace(simulator.profile, drop_rate=1.0)  # empty answers
    plant = plants.create_plant(OWNER, "Gappy")
    sync_plant(plant.id, client, today=TODAY)
    (alert,) = alerts_of(api, plant.id)
    assert alert["kind"] == "data_gap" and alert["figures"]["latest_hour"] is None
    assert alert["figures"]["missing_days"] > 3
    simulator.profile = PROFILES["quiet"]
    sync_plant(plant.id, client, today=TODAY)
    (resolved,) = alerts_of(api, plant.id)
    assert resolved["state"] == "resolved" and resolved["figures"]["missing_days"] == 0
    assert resolved["figures"]["latest_hour"] == f"{TODAY - timedelta(days=1)}T23:00:00+00:00"
    wait_for(lambda: len(events(hook, "data_gap")) == 2, "the gap's two events", cap=20)


def test_sync_failing_opens_after_k_failed_runs_with_the_error_and_resolves(
    env, api, client, simulator
) -> None:
    plant = plants.create_plant(OWNER, "Failing")
    sync_plant(plant.id, client, today=TODAY)
    simulator.force(*["503"] * 4)
    assert sync_plant(plant.id, client, today=TODAY).status == "failed"
    assert alerts_of(api, plant.id) == []  # one failure is not K = 2
    simulator.force(*["503"] * 4)
    sync_plant(plant.id, client, today=TODAY)
    (alert,) = alerts_of(api, plant.id, "open")
    assert alert["kind"] == "sync_failing" and alert["figures"]["consecutive_failures"] == 2
    assert "503" in alert["figures"]["last_error"]
    sync_plant(plant.id, client, today=TODAY)
    assert alerts_of(api, plant.id, "open") == []
    (resolved,) = alerts_of(api, plant.id, "resolved")
    assert resolved["id"] == alert["id"] and resolved["figures"]["consecutive_failures"] == 0


def test_deleting_a_plant_resolves_and_removes_its_alerts(env, api, client, simulator, hook) -> None:
    plant = plants.create_plant(OWNER, "Doomed")
    simulator.set_factor(plant.id, 0.3)
    sync_plant(plant.id, client, today=TODAY)
    assert [a["kind"] for a in alerts_of(api, plant.id)] == ["underperformance"]
    plants.delete_plant(OWNER, plant.id)
    purge_plant(plant.id)  # what the stream's REMOVE record triggers
    assert alert_storage.open_alerts(plant.id) == [] and alert_storage.delete_plant_alerts(plant.id) == 0
    assert api("GET", "/api/solar-plant/alerts")[2]["items"] == []
    got = wait_for(lambda: len(events(hook)) == 2 and events(hook), "opened and resolved", cap=20)
    assert got[1]["detail"]["reason"] == "plant_deleted" and got[1]["detail"]["state"] == "resolved"


@pytest.mark.parametrize("when", ["before the run counter", "between judging and writing"])
def test_a_plant_deleted_while_its_alerts_are_judged_leaves_no_alert(
    env, api, client, simulator, monkeypatch, when
) -> None:
    """The plant is deleted, and the stream's purge runs, while its run judges alerts: what the
    run writes after the purge (an opening, the run counter) is removed, and no opening is
    announced."""
    plant = plants.create_plant(OWNER, "Vanishing")
    simulator.set_factor(plant.id, 0.3)
    published = []
    monkeypatch.setattr(alerts, "publish", lambda transitions: published.extend(transitions) or 0)

    def delete_and_purge() -> None:
        plants.delete_plant(OWNER, plant.id)
        purge_plant(plant.id)  # what the stream's REMOVE record triggers

    target, name = (alert_storage, "record_run") if when.startswith("before") else (alerts, "judge")
    original = getattr(target, name)

    def hooked(*args, **kwargs):
        if name == "record_run":
            delete_and_purge()
        result = original(*args, **kwargs)
        if name == "judge":
            delete_and_purge()
        return result

    monkeypatch.setattr(target, name, hooked)
    sync_plant(plant.id, client, today=TODAY)  # its final save still sees the plant
    assert alert_storage.open_alerts(plant.id) == []
    assert api("GET", "/api/solar-plant/alerts?state=open")[2]["items"] == []
    assert alert_storage.delete_plant_alerts(plant.id) == 0  # nothing of the plant at all
    assert [t for t, *_ in published] == []


def test_alert_pages_follow_their_cursor(env, api, client, simulator) -> None:
    plant = plants.create_plant(OWNER, "Paged")
    for factor in (0.5, 1.0, 0.5, 1.0, 0.5):
        simulator.set_factor(plant.id, factor)
        sync_plant(plant.id, client, today=TODAY)
    status, _, first = api("GET", f"/api/solar-plant/plant/{plant.id}/alerts?limit=2")
    assert status == 200 and len(first["items"]) == 2 and first["next_cursor"]
    _, _, second = api(
        "GET", f"/api/solar-plant/plant/{plant.id}/alerts?limit=2&cursor={first['next_cursor']}"
    )
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    ids = [a["id"] for a in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3
    assert first["items"][0]["state"] == "open"
    status, _, body = api("GET", f"/api/solar-plant/alerts?cursor={first['next_cursor']}")
    assert status == 400 and body["error"]["code"] == "invalid_cursor"


def _corrupt(plant_id: int, start: date, end: date) -> None:
    wrong = [Datapoint(p.hour, 1.0, 2.0, 3.0, 4.0) for p in simulated(plant_id, start, end)]
    datapoints.write_days(plant_id, wrong)


def test_a_resync_repairs_a_corrupted_range_hour_by_hour(env, api, client, simulator, queued) -> None:
    plant = plants.create_plant(OWNER, "Repaired")
    sync_plant(plant.id, client, today=TODAY)
    start, end = date(2024, 1, 30), date(2024, 2, 3)  # across a month end
    everything = (date(2023, 1, 1), TODAY)
    _corrupt(plant.id, start, end)
    assert list(datapoints.read_hours(plant.id, start, end)) != simulated(plant.id, start, end)
    request = resync.request(OWNER, plant.id, start, end - timedelta(days=1), today=TODAY)
    assert (request.state, request.progress) == ("pending", f"/api/solar-plant/plant/{plant.id}")
    with pytest.raises(ResyncPending):
        resync.request(OWNER, plant.id, start, start, today=TODAY)
    recent = (datetime.now(UTC) - timedelta(days=10)).date().isoformat()  # valid for the API's today
    body = {"from": recent, "to": recent}  # over the API: 409 with the pending one
    status, _, error = api("POST", f"/api/solar-plant/plant/{plant.id}/sync", body)
    assert status == 409 and error["error"]["code"] == "resync_pending"
    assert {d["location"]: d["message"] for d in error["error"]["details"]}.items() >= {
        "sync.resync.from": str(start),
        "sync.resync.to": str(end - timedelta(days=1)),
        "sync.resync.state": "pending",
    }.items()
    assert plants.get_plant(OWNER, plant.id).sync.resync.from_ == start
    ((job, _),) = queued
    assert (job.reason, job.start, job.end) == ("resync", start, end)
    outcome = resync.run(plant.id, client, job.start, job.end, today=TODAY)
    assert outcome.status == "done" and outcome.hours_stored == 4 * 24
    oldest = plants.get_plant(OWNER, plant.id).sync.history_from
    assert list(datapoints.read_hours(plant.id, *everything)) == simulated(plant.id, oldest, TODAY)
    sums = datapoints.read_day_sums(plant.id, date(2024, 1, 1), date(2024, 3, 1))
    assert sums[date(2024, 1, 31)].expected_energy == pytest.approx(
        sum(p.expected_energy for p in simulated(plant.id, date(2024, 1, 31), date(2024, 2, 1)))
    )
    assert plants.get_plant(OWNER, plant.id).sync.resync is None  # done: a new one may be asked for
    resync.request(OWNER, plant.id, start, start, today=TODAY)


def _resync_to_the_end(plant_id: int, client, start: date, end: date) -> list[str]:
    """Run the queued re-sync of [start, end) as SQS would (a failed run comes back and goes on
    where it got to) until it is done, at most 30 runs; the statuses of the runs."""
    statuses: list[str] = []
    while not statuses or statuses[-1] != "done":
        assert len(statuses) < 30, statuses
        statuses.append(resync.run(plant_id, client, start, end, today=TODAY).status)
    return statuses


def test_a_resync_against_a_service_answering_nothing_keeps_every_stored_hour(
    env, client, simulator, queued
) -> None:
    """The report of issue 23: 39 days stored whole, the service then answers `[]`. A dry run
    says what `remove_missing` would remove, and changes nothing; a re-sync keeps all 936 hours
    and says it could confirm none; only `remove_missing` removes them."""
    plant = plants.create_plant(OWNER, "Forgotten by the service")
    sync_plant(plant.id, client, today=TODAY)
    start, end = TODAY - timedelta(days=39), TODAY
    stored = simulated(plant.id, start, end)
    assert list(datapoints.read_hours(plant.id, start, end)) == stored and len(stored) == 936
    missing_before = plants.get_plant(OWNER, plant.id).sync.missing_days
    simulator.profile = replace(simulator.profile, drop_rate=1.0)  # every answer is []

    resync.request(
        OWNER, plant.id, start, end - timedelta(days=1), today=TODAY, dry_run=True, remove_missing=True
    )
    assert _resync_to_the_end(plant.id, client, start, end) == ["done"]
    dry = plants.get_plant(OWNER, plant.id).sync.last_resync
    assert (dry.dry_run, dry.written, dry.removed, dry.unconfirmed, dry.changed) == (True, 0, 936, 0, 0)
    assert [(d.day, d.removed) for d in dry.days] == [(start + timedelta(days=i), 24) for i in range(39)]
    assert list(datapoints.read_hours(plant.id, start, end)) == stored  # nothing changed

    resync.request(OWNER, plant.id, start, end - timedelta(days=1), today=TODAY)
    assert _resync_to_the_end(plant.id, client, start, end) == ["done"]
    kept = plants.get_plant(OWNER, plant.id)
    assert (kept.sync.last_resync.unconfirmed, kept.sync.last_resync.removed) == (936, 0)
    assert kept.sync.last_resync.written == 0 and not kept.sync.last_resync.dry_run
    assert list(datapoints.read_hours(plant.id, start, end)) == stored
    assert datapoints.read_range_sums(plant.id, start, end).hours == 936
    assert kept.sync.missing_days == missing_before  # kept hours: no day became missing

    resync.request(OWNER, plant.id, start, start + timedelta(days=1), today=TODAY, remove_missing=True)
    assert _resync_to_the_end(plant.id, client, start, start + timedelta(days=2)) == ["done"]
    assert plants.get_plant(OWNER, plant.id).sync.last_resync.removed == 48
    assert list(datapoints.read_hours(plant.id, start, start + timedelta(days=2))) == []
    assert start not in datapoints.read_day_sums(plant.id, start, start + timedelta(days=1))
    assert {start, start + timedelta(days=1)} <= set(plants.get_plant(OWNER, plant.id).sync.missing_days)
    assert list(datapoints.read_hours(plant.id, start + timedelta(days=2), end)) == stored[48:]


def test_a_resync_against_a_flaky_service_keeps_every_correct_hour_and_repairs_what_it_gives(
    env, client, simulator, queued
) -> None:
    """A flaky service (errors, 5xx, slow answers, dropped and malformed hours) re-syncing a range
    of which some days were stored wrong: every hour it gives is right afterwards, every right
    hour it left out is still there, and the counts add up."""
    plant = plants.create_plant(OWNER, "Flaky re-sync")
    sync_plant(plant.id, client, today=TODAY)
    start, end = TODAY - timedelta(days=39), TODAY
    wrong_start, wrong_end = start + timedelta(days=5), start + timedelta(days=8)
    _corrupt(plant.id, wrong_start, wrong_end)
    wrong = {p.hour for p in simulated(plant.id, wrong_start, wrong_end)}
    # half the hours dropped: some are still missing after the client's rounds of asking again
    simulator.profile = replace(PROFILES["flaky"], slow_seconds=1.0, drop_rate=0.5, malformed_rate=0.02)
    resync.request(OWNER, plant.id, start, end - timedelta(days=1), today=TODAY)
    _resync_to_the_end(plant.id, client, start, end)
    result = plants.get_plant(OWNER, plant.id).sync.last_resync
    assert result.unconfirmed > 0 and result.removed == 0 and result.added == 0
    assert result.written + result.unconfirmed == 936
    assert result.changed == 72 - sum(d.unconfirmed for d in result.days if wrong_start <= d.day < wrong_end)
    truth = {p.hour: p for p in simulated(plant.id, start, end)}
    now = {p.hour: p for p in datapoints.read_hours(plant.id, start, end)}
    assert now.keys() == truth.keys()  # no hour lost
    still_wrong = {hour for hour in truth if now[hour] != truth[hour]}
    assert still_wrong <= wrong  # only corrupted hours the service did not give again
    assert len(still_wrong) == sum(d.unconfirmed for d in result.days if wrong_start <= d.day < wrong_end)
    sums = datapoints.read_range_sums(plant.id, start, end)
    assert sums.expected_energy == pytest.approx(sum(p.expected_energy for p in now.values()))


def test_a_resync_range_is_bounded(env) -> None:
    plant = plants.create_plant(OWNER, "Bounded")
    for start, last in (
        (date(2024, 2, 2), date(2024, 2, 1)),
        (date(2022, 1, 1), date(2024, 1, 1)),
        (date(2024, 3, 1), date(2024, 3, 2)),
    ):
        with pytest.raises(InvalidRange):
            resync.request(OWNER, plant.id, start, last, today=TODAY)


def _worker(template, context_seconds: int = 900, budget_ms: Iterator[int] | None = None):
    """The sync worker's handler, and a call of it with one job as SQS delivers it (with a Lambda
    context of `context_seconds`, or whose remaining time is read from `budget_ms`)."""
    from devstack.lambdas import FakeContext, load_handler

    function = template.functions()["SyncWorkerFunction"]
    handler = load_handler(function, template.layer_dirs())

    def deliver(job: jobs.SyncJob) -> dict:
        record = {
            "messageId": "m1",
            "receiptHandle": "r1",
            "body": job.model_dump_json(),
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:SyncQueue",
            "awsRegion": "us-east-1",
        }
        context = FakeContext(function.logical_id, 256, context_seconds)
        if budget_ms is not None:
            context.get_remaining_time_in_millis = lambda: next(budget_ms)  # type: ignore[method-assign]
        return handler({"Records": [record]}, context)

    return deliver


def test_a_resync_of_a_plant_busy_syncing_comes_back_later_and_never_runs_alongside(
    env, template, simulator, queued
) -> None:
    plant = plants.create_plant(OWNER, "Busy")
    day = datetime.now(UTC).date() - timedelta(days=3)
    resync.request(OWNER, plant.id, day, day)
    ((job, _),) = queued
    queued.clear()
    assert plant_storage.acquire_sync_lease(plant.id, "a daily run", datetime.now(UTC), 600) is not None
    deliver = _worker(template)
    assert deliver(job) == {"batchItemFailures": []}  # not retried by SQS: queued again, delayed
    assert queued == [(job, resync.BUSY_DELAY_SECONDS)]
    assert simulator.requests == 0  # nothing fetched while the other run holds the lease
    assert plants.get_plant(OWNER, plant.id).sync.resync.state == "pending"
    assert plant_storage.acquire_sync_lease(plant.id, "a third run", datetime.now(UTC), 600) is None
    plant_storage.release_sync_lease(plant.id, "a daily run")
    queued.clear()
    assert deliver(job) == {"batchItemFailures": []}  # the job come back: now it runs
    assert queued == [] and plants.get_plant(OWNER, plant.id).sync.resync is None
    assert list(datapoints.read_hours(plant.id, day, day + timedelta(days=1))) == simulated(
        plant.id, day, day + timedelta(days=1)
    )


def test_a_resync_cut_by_the_time_budget_goes_on_from_where_it_stopped_and_finishes(
    env, template, simulator, queued
) -> None:
    """Cut before its first month, the job comes back whole; cut after some months, the rest of
    its range comes back (a range longer than one run's budget finishes rather than starting
    over each time); neither is a failure for SQS's retries."""
    plant = plants.create_plant(OWNER, "Hurried")
    last = datetime.now(UTC).date() - timedelta(days=2)
    start = (last - timedelta(days=70)).replace(day=1)  # three months at least: three fetches
    end = last + timedelta(days=1)
    _corrupt(plant.id, start, end)
    resync.request(OWNER, plant.id, start, last)
    ((job, _),) = queued
    queued.clear()
    assert _worker(template, context_seconds=1)(job) == {"batchItemFailures": []}  # no time to fetch
    assert queued == [(job, 0)]  # again at once, the whole range
    pending = plants.get_plant(OWNER, plant.id).sync.resync
    assert pending.state == "pending" and "left" in pending.last_error
    queued.clear()
    first = simulator.requests
    budget = (60_000 if simulator.requests < first + 2 else 0 for _ in iter(int, 1))  # two months' time
    assert _worker(template, budget_ms=budget)(job) == {"batchItemFailures": []}
    ((rest, delay),) = queued
    assert delay == 0 and (rest.reason, rest.plant_id, rest.end) == ("resync", plant.id, job.end)
    assert start < rest.start < end and rest.start.day == 1  # a month end: the months before are done
    assert list(datapoints.read_hours(plant.id, start, rest.start)) == simulated(plant.id, start, rest.start)
    assert list(datapoints.read_hours(plant.id, rest.start, end)) != simulated(plant.id, rest.start, end)
    queued.clear()
    requests = simulator.requests
    assert _worker(template)(rest) == {"batchItemFailures": []}
    assert queued == [] and plants.get_plant(OWNER, plant.id).sync.resync is None
    assert simulator.requests - requests < 6  # only the rest was fetched again
    assert list(datapoints.read_hours(plant.id, start, end)) == simulated(plant.id, start, end)
