"""The stream, worker and daily-sync handlers, invoked with their events, against moto."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta
from functools import partialmethod

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from devstack.lambdas import load_handler
from devstack.monitoring import MonitoringSimulator
from devstack.template import ROOT
from powerfactor.datapoints import store as datapoints
from powerfactor.datapoints.schemas import Datapoint
from powerfactor.plants import logic as plants
from powerfactor.plants import store as plant_storage
from powerfactor.runtime.settings import get_settings, reset_settings
from powerfactor.sync import jobs
from powerfactor.sync.run import LEASE_SECONDS, horizon
from powerfactor.sync.vendor import MonitoringClient
from tests.support import OWNER

EVENTS = ROOT / "events"


def event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


def handler(template, name: str):
    return load_handler(template.functions()[name], template.layer_dirs())


def queued(queue_url: str) -> list[dict]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def test_insert_of_a_plant_queues_its_backfill(aws, template, lambda_context) -> None:
    result = handler(template, "PlantStreamFunction")(event("plant-stream-insert"), lambda_context)
    assert result == {"batchItemFailures": []}
    assert queued(aws["SyncQueue"]) == [{"plant_id": 1, "reason": "created"}]


def test_remove_of_a_plant_deletes_its_data(aws, template, lambda_context) -> None:
    hour = Datapoint(datetime(2024, 1, 1, tzinfo=UTC), 1, 2, 3, 4)
    datapoints.write_days(1, [hour])
    assert list(datapoints.read_hours(1, date(2024, 1, 1), date(2024, 1, 2))) == [hour]
    handler(template, "PlantStreamFunction")(event("plant-stream-remove"), lambda_context)
    assert list(datapoints.read_hours(1, date(2024, 1, 1), date(2024, 1, 2))) == []
    assert datapoints.read_day_sums(1, date(2024, 1, 1), date(2024, 2, 1)) == {}


def test_a_poison_record_fails_alone(aws, template, lambda_context) -> None:
    good = event("plant-stream-insert")["Records"][0]
    poison = copy.deepcopy(good)
    poison["dynamodb"]["NewImage"].pop("plant_id")
    poison["dynamodb"]["SequenceNumber"] = "999"
    later = copy.deepcopy(good)
    later["dynamodb"]["NewImage"]["plant_id"] = {"N": "2"}
    result = handler(template, "PlantStreamFunction")({"Records": [good, poison, later]}, lambda_context)
    assert result == {"batchItemFailures": [{"itemIdentifier": "999"}]}
    assert [job["plant_id"] for job in queued(aws["SyncQueue"])] == [1, 2]


def test_daily_sync_queues_one_job_per_plant(aws, template, lambda_context) -> None:
    ids = [plants.create_plant(OWNER, f"p{i}").id for i in range(23)]
    result = handler(template, "DailySyncFunction")(event("daily-sync"), lambda_context)
    assert result == {"queued": 23}
    jobs = queued(aws["SyncQueue"])
    assert sorted(job["plant_id"] for job in jobs) == ids and {job["reason"] for job in jobs} == {"daily"}


@pytest.fixture
def simulator(monkeypatch) -> MonitoringSimulator:
    sim = MonitoringSimulator(port=0)
    sim.start()
    monkeypatch.setenv("MONITORING_SERVICE_URL", sim.url)
    monkeypatch.setenv("SYNC_UNTIL_YEAR", "1")
    reset_settings()
    yield sim
    sim.stop()


@pytest.mark.loopback
def test_worker_syncs_the_plant_of_its_message(aws, template, lambda_context, simulator) -> None:
    plant = plants.create_plant(OWNER, "Solar Park North")
    lambda_context.timeout_s = 300  # the template's Timeout for the worker
    result = handler(template, "SyncWorkerFunction")(event("sync-job"), lambda_context)
    assert result == {"batchItemFailures": []}
    state = plants.get_plant(OWNER, plant.id).sync
    today = state.synced_until
    assert state.history_from == horizon(today, 1) and state.last_error is None
    yesterday = today - timedelta(days=1)
    assert len(list(datapoints.read_hours(plant.id, yesterday, today))) == 24


@pytest.mark.loopback
def test_worker_fails_a_message_whose_sync_failed_so_sqs_retries_it(
    aws, template, lambda_context, simulator, monkeypatch
) -> None:
    plants.create_plant(OWNER, "Solar Park North")
    simulator.force(*["503"] * 20)
    quick = partialmethod(MonitoringClient.__init__, backoff_initial=0.01, backoff_max=0.02)
    monkeypatch.setattr(MonitoringClient, "__init__", quick)
    # BatchSize is 1: Powertools raises when the whole batch failed, so the message returns
    # to the queue after its visibility timeout (and to the dead-letter queue after five tries).
    with pytest.raises(BatchProcessingError, match="HTTP 503"):
        handler(template, "SyncWorkerFunction")(event("sync-job"), lambda_context)
    assert "503" in plants.get_plant(OWNER, 1).sync.last_error


@pytest.mark.loopback
def test_worker_continues_a_sync_cut_short_by_time(aws, template, lambda_context, simulator) -> None:
    plants.create_plant(OWNER, "Solar Park North")
    lambda_context.timeout_s = 3  # less than the client's safety margin plus one request
    result = handler(template, "SyncWorkerFunction")(event("sync-job"), lambda_context)
    assert result == {"batchItemFailures": []}
    assert queued(aws["SyncQueue"]) == [{"plant_id": 1, "reason": "continue"}]


@pytest.mark.loopback
def test_worker_lets_go_of_a_plant_whose_lease_another_run_took(
    aws, template, lambda_context, simulator, monkeypatch, capsys
) -> None:
    """The run stops at its next save and deletes nothing; its message is done (the run that
    took the lease syncs the plant): not failed, not continued, and counted as SyncLost."""
    plant = plants.create_plant(OWNER, "Solar Park North")
    original = datapoints.DayWriter.write
    written = []

    def write_then_lose_the_lease(writer, points):
        result = original(writer, points)
        written.extend(points)
        expired = datetime.now(UTC) + timedelta(seconds=LEASE_SECONDS + 1)  # as the thief sees it
        plant_storage.acquire_sync_lease(writer.plant_id, "another run", expired, 600)
        return result

    monkeypatch.setattr(datapoints.DayWriter, "write", write_then_lose_the_lease)
    lambda_context.timeout_s = 300
    result = handler(template, "SyncWorkerFunction")(event("sync-job"), lambda_context)
    assert result == {"batchItemFailures": []}
    assert queued(aws["SyncQueue"]) == []
    first, last = written[0].hour.date(), written[-1].hour.date() + timedelta(days=1)
    assert len(written) == 24 and list(datapoints.read_hours(plant.id, first, last)) == written
    assert '"SyncLost"' in capsys.readouterr().out


def test_a_failed_jobs_wait_grows_with_its_receives_and_stays_under_the_visibility_timeout(template) -> None:
    delays = [jobs.retry_delay(receives) for receives in range(1, 7)]
    assert delays == [20, 80, 320, 1280, 1800, 1800]
    timeout = int(template.queues()["SyncQueue"]["VisibilityTimeout"])
    assert max(jobs.retry_delay(n) for n in range(1, 50)) <= timeout


@pytest.mark.loopback
def test_a_failed_job_comes_back_after_a_short_backoff_not_the_visibility_timeout(
    aws, template, lambda_context, simulator, monkeypatch
) -> None:
    """The worker changes the failed message's visibility: 20 s after its first receive, 320 s
    after its third (instead of the queue's 30 minutes)."""
    plants.create_plant(OWNER, "Solar Park North")
    simulator.force(*["503"] * 40)
    quick = partialmethod(MonitoringClient.__init__, backoff_initial=0.01, backoff_max=0.02)
    monkeypatch.setattr(MonitoringClient, "__init__", quick)
    sqs = jobs._sqs(get_settings())
    changed: list[dict] = []
    sqs.meta.events.register(
        "before-parameter-build.sqs.ChangeMessageVisibility", lambda params, **_: changed.append(params)
    )
    jobs.enqueue([jobs.SyncJob(plant_id=1, reason="manual")])
    (message,) = boto3.client("sqs", region_name="us-east-1").receive_message(
        QueueUrl=aws["SyncQueue"], AttributeNames=["All"]
    )["Messages"]
    for receives, delay in (("1", 20), ("3", 320)):
        record = event("sync-job")["Records"][0]
        record.update(messageId=message["MessageId"], receiptHandle=message["ReceiptHandle"])
        record["attributes"]["ApproximateReceiveCount"] = receives
        with pytest.raises(BatchProcessingError, match="HTTP 503"):
            handler(template, "SyncWorkerFunction")({"Records": [record]}, lambda_context)
        assert changed[-1]["VisibilityTimeout"] == delay
        assert changed[-1]["ReceiptHandle"] == message["ReceiptHandle"]
    assert len(changed) == 2
