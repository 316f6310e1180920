"""End to end over the local stack (one stack for the module): an alert appears at the API and as
an event at a webhook within one sync (and deleting the plant resolves it), delivered by the
webhook's function with a signature the receiver verifies, a replay of it refused; a re-sync asked
for over HTTP repairs a corrupted range hour by hour against the simulator."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from devstack.stack import Stack
from powerfactor.datapoints import store as datapoints
from powerfactor.datapoints.schemas import Datapoint
from tests.support import (
    fully_synced,
    http,
    in_process_stack,
    plant_state,
    simulated,
    wait_for,
    webhook_receiver,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
SECRET = "e2e-webhook-secret-of-more-than-32-characters"


@pytest.fixture(scope="module")
def hook() -> Iterator[tuple[str, list[dict]]]:
    with webhook_receiver(SECRET) as receiver:  # verifies every delivery's signature
        yield receiver


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, hook) -> Iterator[Stack]:
    with in_process_stack(
        tmp_path_factory.mktemp("alerts"),
        SyncUntilYear="1",
        SyncEveryRun="1",
        MonitoringReadTimeout="2",
        AlertWebhookUrl=hook[0],
        AlertWebhookSecret=SECRET,
    ) as running:
        yield running


def test_an_alert_appears_at_the_api_and_the_webhook_within_one_sync(stack, hook) -> None:
    status, plant = http(stack, "POST", "/api/solar-plant/", {"name": "Underperformer E2E"})
    assert status == 201
    today = datetime.now(UTC).date()
    wait_for(lambda: fully_synced(stack, plant["id"], today), "the backfill")
    assert http(stack, "GET", f"/api/solar-plant/plant/{plant['id']}/alerts")[1]["items"] == []
    stack.monitoring.set_factor(plant["id"], 0.4)
    assert http(stack, "POST", "/__devstack/schedules")[0] == 200  # the daily sync: one run per plant
    page = wait_for(
        lambda: (p := http(stack, "GET", "/api/solar-plant/alerts?state=open")[1])["items"] and p,
        "the alert at the API",
    )
    (alert,) = page["items"]
    assert (alert["plant_id"], alert["kind"], alert["state"]) == (plant["id"], "underperformance", "open")
    (received,) = wait_for(lambda: hook[1], "the event at the webhook", cap=30)
    event = received["event"]
    assert event["detail-type"] == "alert.underperformance.opened" and event["source"] == "powerfactor.alerts"
    assert event["detail"]["alert_id"] == alert["id"] and event["detail"]["version"] == 1
    events = http(stack, "GET", "/__devstack/events")[1]["events"]
    assert [e["id"] for e in events] == [event["id"]]
    # deleting the plant (the stream's REMOVE) resolves its alert, published, and removes it
    assert http(stack, "DELETE", f"/api/solar-plant/plant/{plant['id']}")[0] == 204
    wait_for(lambda: len(hook[1]) == 2, "the resolution at the webhook")
    resolved = hook[1][1]["event"]
    assert resolved["detail-type"] == "alert.underperformance.resolved"
    assert resolved["detail"]["reason"] == "plant_deleted" and resolved["detail"]["alert_id"] == alert["id"]
    assert http(stack, "GET", "/api/solar-plant/alerts?state=open")[1]["items"] == []
    assert [r["refused"] for r in hook[1]] == [None, None]  # both signatures verified
    assert hook[1][0]["headers"]["powerfactor-signature"].startswith("v1=")
    # a captured delivery sent again (within the five minutes) is refused as a replay
    request = urllib.request.Request(
        hook[0], data=received["body"], headers=received["headers"], method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400 and hook[1][-1]["refused"] == "replay"


def test_a_resync_repairs_a_corrupted_range_hour_by_hour(stack, read_storage) -> None:
    status, plant = http(stack, "POST", "/api/solar-plant/", {"name": "Repaired E2E"})
    today = datetime.now(UTC).date()
    wait_for(lambda: fully_synced(stack, plant["id"], today), "the backfill")
    start, last = today - timedelta(days=40), today - timedelta(days=35)
    end = last + timedelta(days=1)
    wrong = [Datapoint(p.hour, 1.0, 2.0, 3.0, 4.0) for p in simulated(plant["id"], start, end)]
    datapoints.write_days(plant["id"], wrong[: len(wrong) - 5])  # wrong values, and hours missing
    assert list(datapoints.read_hours(plant["id"], start, end)) != simulated(plant["id"], start, end)
    body = {"from": start.isoformat(), "to": last.isoformat()}
    status, queued = http(stack, "POST", f"/api/solar-plant/plant/{plant['id']}/sync", body)
    assert status == 202, queued
    assert (queued["from"], queued["to"], queued["progress"]) == (
        body["from"],
        body["to"],
        f"/api/solar-plant/plant/{plant['id']}",
    )
    status, error = http(stack, "POST", "/api/solar-plant/plant/999999/sync", body)
    assert status == 404
    status, error = http(
        stack,
        "POST",
        f"/api/solar-plant/plant/{plant['id']}/sync",
        {"from": "2000-01-01", "to": "2000-01-02"},
    )
    assert status == 422 and error["error"]["code"] == "invalid_range"
    wait_for(lambda: plant_state(stack, plant["id"])["resync"] is None, "the re-sync to finish")
    assert list(datapoints.read_hours(plant["id"], start, end)) == simulated(plant["id"], start, end)
    assert plant_state(stack, plant["id"])["last_error"] is None


def test_a_resync_against_a_service_answering_nothing_keeps_every_hour_until_asked(
    stack, read_storage
) -> None:
    """Over the local stack (the simulator's `amnesiac` profile, set through its control URL, as
    an operator would): a dry run counts what `remove_missing` would remove and changes nothing, a
    re-sync keeps every stored hour and says how many the answer did not confirm."""
    status, plant = http(stack, "POST", "/api/solar-plant/", {"name": "Forgotten E2E"})
    today = datetime.now(UTC).date()
    wait_for(lambda: fully_synced(stack, plant["id"], today), "the backfill")
    start, last = today - timedelta(days=39), today - timedelta(days=1)
    stored = list(datapoints.read_hours(plant["id"], start, today))
    assert stored == simulated(plant["id"], start, today) and len(stored) == 936
    control = f"{stack.monitoring.url}__control/profile?name="
    urllib.request.urlopen(urllib.request.Request(control + "amnesiac", method="POST"), timeout=10).close()
    try:
        path = f"/api/solar-plant/plant/{plant['id']}/sync"
        body = {"from": start.isoformat(), "to": last.isoformat(), "remove_missing": True, "dry_run": True}
        status, queued = http(stack, "POST", path, body)
        assert status == 202 and (queued["dry_run"], queued["remove_missing"]) == (True, True), queued
        wait_for(lambda: plant_state(stack, plant["id"])["last_resync"], "the dry run")
        dry = plant_state(stack, plant["id"])["last_resync"]
        assert (dry["removed"], dry["unconfirmed"], dry["written"], len(dry["days"])) == (936, 0, 0, 39)
        assert list(datapoints.read_hours(plant["id"], start, today)) == stored
        status, queued = http(stack, "POST", path, {"from": start.isoformat(), "to": last.isoformat()})
        assert status == 202 and not queued["remove_missing"]
        wait_for(lambda: not plant_state(stack, plant["id"])["last_resync"]["dry_run"], "the re-sync")
        kept = plant_state(stack, plant["id"])
        assert (kept["last_resync"]["unconfirmed"], kept["last_resync"]["removed"]) == (936, 0)
        assert list(datapoints.read_hours(plant["id"], start, today)) == stored
        assert kept["missing_days"] == [] and kept["resync"] is None
    finally:
        urllib.request.urlopen(urllib.request.Request(control + "quiet", method="POST"), timeout=10).close()
