"""End to end over the local stack (one stack for the module): an alert appears at the API and as
an event at a webhook within one sync (and deleting the plant resolves it), delivered by the
webhook's function with a signature the receiver verifies, a replay of it refused; a re-sync asked
for over HTTP repairs a corrupted range hour by hour against the simulator; a re-sync against a
flaky service, or one answering `[]`, keeps every correct stored hour; a correction of history
made with the simulator's `factor` control appears hour by hour in the revisions, is announced
as data.revised at the webhook, and is undone by the revert."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from devstack.monitoring import PROFILES
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
    # the run's two events: the alert, and its refresh of the last week revised (lower observed energy)
    received = wait_for(lambda: len(hook[1]) == 2 and hook[1], "the events at the webhook", cap=30)
    (opened,) = [r for r in received if r["event"]["source"] == "powerfactor.alerts"]
    (revised,) = [r for r in received if r["event"]["source"] == "powerfactor.data"]
    event = opened["event"]
    assert event["detail-type"] == "alert.underperformance.opened" and event["source"] == "powerfactor.alerts"
    assert event["detail"]["alert_id"] == alert["id"] and event["detail"]["version"] == 1
    counts = {k: revised["event"]["detail"][k] for k in ("cause", "changed", "removed", "restored")}
    assert counts == {"cause": "daily", "changed": 7 * 24, "removed": 0, "restored": 0}
    events = http(stack, "GET", "/__devstack/events")[1]["events"]
    assert sorted(e["id"] for e in events) == sorted(r["event"]["id"] for r in received)
    # deleting the plant (the stream's REMOVE) resolves its alert, published, and removes it
    assert http(stack, "DELETE", f"/api/solar-plant/plant/{plant['id']}")[0] == 204
    wait_for(lambda: len(hook[1]) == 3, "the resolution at the webhook")
    resolved = hook[1][2]["event"]
    assert resolved["detail-type"] == "alert.underperformance.resolved"
    assert resolved["detail"]["reason"] == "plant_deleted" and resolved["detail"]["alert_id"] == alert["id"]
    assert http(stack, "GET", "/api/solar-plant/alerts?state=open")[1]["items"] == []
    assert [r["refused"] for r in hook[1]] == [None, None, None]  # every signature verified
    assert hook[1][0]["headers"]["powerfactor-signature"].startswith("v1=")
    # a captured delivery sent again (within the five minutes) is refused as a replay
    request = urllib.request.Request(hook[0], data=opened["body"], headers=opened["headers"], method="POST")
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


def _control(stack, what: str) -> None:
    """A control of the monitoring simulator, POSTed as an operator would."""
    request = urllib.request.Request(f"{stack.monitoring.url}__control/{what}", method="POST")
    urllib.request.urlopen(request, timeout=10).close()


def test_a_resync_against_a_flaky_service_keeps_every_correct_hour(stack, read_storage) -> None:
    """The service fails (an outage, a 5xx, an error object, a slow answer, then at the `flaky`
    rates) and leaves out half its hours, so that some are still missing after the client's
    re-fetches: the re-sync finishes, keeps every stored hour (those omitted are counted
    `unconfirmed`), and changes nothing, so it makes no revision."""
    status, plant = http(stack, "POST", "/api/solar-plant/", {"name": "Flaky re-sync E2E"})
    today = datetime.now(UTC).date()
    wait_for(lambda: fully_synced(stack, plant["id"], today), "the backfill")
    start, last = today - timedelta(days=39), today - timedelta(days=1)
    stored = list(datapoints.read_hours(plant["id"], start, today))
    assert stored == simulated(plant["id"], start, today) and len(stored) == 936
    stack.monitoring.profile = replace(PROFILES["flaky"], slow_seconds=3, drop_rate=0.5)
    stack.monitoring.force("down", "503", "error", "slow")
    try:
        body = {"from": start.isoformat(), "to": last.isoformat()}
        status, queued = http(stack, "POST", f"/api/solar-plant/plant/{plant['id']}/sync", body)
        assert status == 202, queued
        done = wait_for(
            lambda: (
                (s := plant_state(stack, plant["id"]))["resync"] is None
                and (s["last_resync"] or {}).get("id") == queued["id"]
                and s
            ),
            "the re-sync against a flaky service",
        )
    finally:
        stack.monitoring.profile = PROFILES["quiet"]
    result = done["last_resync"]
    assert (result["changed"], result["removed"]) == (0, 0)
    assert result["unconfirmed"] > 0 and result["written"] + result["unconfirmed"] == 936
    assert list(datapoints.read_hours(plant["id"], start, today)) == stored
    path = f"/api/solar-plant/plant/{plant['id']}/revisions?from={start}&to={last}"
    status, page = http(stack, "GET", path)
    assert status == 200 and page["items"] == [] and page["next_cursor"] is None
    assert done["missing_days"] == []


def test_a_correction_of_history_is_listed_hour_by_hour_announced_and_reverted(
    stack, hook, read_storage
) -> None:
    """The simulator's `factor` control halves a plant's observed energy, as a service correcting
    its history would; a re-sync of three days stores it: 72 revisions over HTTP, each with the old
    and new values, the re-sync's id, the key and the reason; a data.revised event at the webhook;
    each hour's provenance; then the revert puts every hour back, itself revisions and an event,
    and a second revert is refused."""
    status, plant = http(stack, "POST", "/api/solar-plant/", {"name": "Corrected E2E"})
    plant_id = plant["id"]
    today = datetime.now(UTC).date()
    wait_for(lambda: fully_synced(stack, plant_id, today), "the backfill")
    start, last = today - timedelta(days=20), today - timedelta(days=18)  # outside the daily refresh
    end = last + timedelta(days=1)
    original = simulated(plant_id, start, end)
    assert list(datapoints.read_hours(plant_id, start, end)) == original
    seen = len(hook[1])
    _control(stack, f"factor?plant-id={plant_id}&factor=0.5")
    try:
        body = {
            "from": start.isoformat(),
            "to": last.isoformat(),
            "reason": "the service corrected its meter",
        }
        status, queued = http(stack, "POST", f"/api/solar-plant/plant/{plant_id}/sync", body)
        assert status == 202, queued
        rid = queued["id"]
        wait_for(lambda: (plant_state(stack, plant_id)["last_resync"] or {}).get("id") == rid, "the re-sync")
    finally:
        _control(stack, f"factor?plant-id={plant_id}&factor=1")
    assert plant_state(stack, plant_id)["last_resync"]["changed"] == 72
    corrected = [Datapoint(p.hour, p.expected_energy, p.expected_irradiation, p.observed_energy * 0.5,
                           p.observed_irradiation) for p in original]  # fmt: skip
    assert list(datapoints.read_hours(plant_id, start, end)) == corrected
    # the revisions, page by page, hour by hour
    key_id = stack.dev_key[0].split("_")[1]
    path = f"/api/solar-plant/plant/{plant_id}/revisions?from={start}&to={last}&limit=25"
    listed, cursor = [], None
    while True:
        status, page = http(stack, "GET", path + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200 and len(page["items"]) <= 25
        listed += page["items"]
        if (cursor := page["next_cursor"]) is None:
            break
    assert [item["hour"] for item in listed] == [p.hour.strftime("%Y-%m-%dT%H:%M:%SZ") for p in original]
    for item, old, new in zip(listed, original, corrected, strict=True):
        assert (item["kind"], item["cause"], item["resync_id"], item["key_id"]) == (
            "changed",
            "resync",
            rid,
            key_id,
        )
        assert "the service corrected its meter" in item["why"]
        assert item["old"] == {
            "expected": {"energy": old.expected_energy, "irradiation": old.expected_irradiation},
            "observed": {"energy": old.observed_energy, "irradiation": old.observed_irradiation},
        }
        assert item["new"]["observed"]["energy"] == new.observed_energy
        assert item["new"]["expected"] == item["old"]["expected"]
    # announced at the webhook, signed
    announced = wait_for(
        lambda: [r for r in hook[1][seen:] if r["event"]["detail"].get("resync_id") == rid],
        "data.revised",
        cap=30,
    )
    (delivery,) = announced
    detail = delivery["event"]["detail"]
    assert (delivery["event"]["detail-type"], delivery["refused"]) == ("data.revised", None)
    assert (detail["cause"], detail["changed"], detail["from"], detail["to"]) == (
        "resync",
        72,
        str(start),
        str(last),
    )
    # each hour's provenance: changed once
    data = f"/api/solar-plant/data?plant-id={plant_id}&from={start}&to={start}&tz=UTC&fields=provenance"
    status, page = http(stack, "GET", data)
    assert status == 200 and {item["provenance"]["revisions"] for item in page["items"]} == {1}
    assert all(
        item["provenance"]["last_changed"] >= item["provenance"]["first_stored"] for item in page["items"]
    )
    # the revert puts every hour back
    status, reverted = http(stack, "POST", f"/api/solar-plant/plant/{plant_id}/resyncs/{rid}/revert",
                            {"reason": "the correction was a mistake"})  # fmt: skip
    assert status == 200, reverted
    assert (reverted["changed"], reverted["removed"], reverted["restored"]) == (72, 0, 0)
    assert list(datapoints.read_hours(plant_id, start, end)) == original
    status, page = http(stack, "GET", f"/api/solar-plant/plant/{plant_id}/revisions?from={start}&to={last}")
    back = [item for item in page["items"] if item["cause"] == "revert"]
    assert len(page["items"]) == 144 and len(back) == 72
    assert {(item["resync_id"], item["key_id"]) for item in back} == {(rid, key_id)}
    assert sorted((i["hour"], i["old"], i["new"]) for i in back) == sorted(
        (i["hour"], i["new"], i["old"]) for i in listed
    )
    wait_for(
        lambda: [r for r in hook[1][seen:] if r["event"]["detail"].get("cause") == "revert"],
        "the revert's event",
        cap=30,
    )
    status, again = http(stack, "POST", f"/api/solar-plant/plant/{plant_id}/resyncs/{rid}/revert")
    assert status == 409 and again["error"]["code"] == "already_reverted"
    assert all(r["refused"] is None for r in hook[1][seen:])  # every delivery's signature verified
