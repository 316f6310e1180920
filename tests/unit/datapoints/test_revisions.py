"""The revision log (moto): what the writer records when stored hours change, and what it does not
write at all; the revisions route's pages; a re-sync's revert and when it is refused; the
provenance of /data; the data.revised events."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import boto3
import pytest

from powerfactor.alerts import logic as alerts
from powerfactor.datapoints import revisions
from powerfactor.datapoints import store as datapoints
from powerfactor.datapoints.history import ProvenanceRows, read_data
from powerfactor.datapoints.schemas import Datapoint
from powerfactor.plants import logic as plants
from powerfactor.plants import store as plant_storage
from powerfactor.plants.schemas import resync_id
from powerfactor.runtime.settings import get_settings
from powerfactor.sync import resync
from tests.support import OWNER
from tests.unit.functions.test_plants_api import assert_error

pytestmark = pytest.mark.usefixtures("aws")
BASE = "/api/solar-plant"
DAY = date(2024, 5, 10)


def hours(day: date, count: int = 24, value: float = 1.5, first: int = 0) -> list[Datapoint]:
    start = datetime(day.year, day.month, day.day, first, tzinfo=UTC)
    return [
        Datapoint(start + timedelta(hours=h), value, value + 1, value + 2, value + 3) for h in range(count)
    ]


def items(plant_id: int, prefix: str = "") -> dict[str, dict]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    pages = client.get_paginator("query").paginate(
        TableName=get_settings().datapoints_table,
        KeyConditionExpression="plant_id = :p",
        ExpressionAttributeValues={":p": {"N": str(plant_id)}},
    )
    found = {item["period"]["S"]: item for page in pages for item in page["Items"]}
    return {k: v for k, v in found.items() if k.startswith(prefix)}


def logged(
    plant_id: int, start: date = DAY - timedelta(days=40), end: date = DAY + timedelta(days=40)
) -> list:
    """Every (day, hour, kind, old, new, cause kind) of the plant's revision log, in order."""
    return [
        (r.day, c.hour, c.kind, c.old, c.new, r.cause.kind)
        for r in revisions.read(plant_id, start, end)
        for c in r.changes
    ]


@pytest.fixture
def sync_env(use_function_env, aws):
    use_function_env("SyncWorkerFunction", queue_urls=aws)


@pytest.fixture
def writes(monkeypatch) -> list[tuple[str, int]]:
    """The writes the datapoints store sends: ("batch" | "transaction", items)."""
    sent: list[tuple[str, int]] = []
    batch, transact = datapoints._batch_write, datapoints._transact
    monkeypatch.setattr(
        datapoints, "_batch_write", lambda i: (sent.append(("batch", len(i))) if i else None) or batch(i)
    )
    monkeypatch.setattr(
        datapoints,
        "_transact",
        lambda i, extra=None: sent.append(("transaction", len(i))) or transact(i, extra),
    )
    return sent


# ---- the writer --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("sync_env")
def test_values_written_again_unchanged_make_no_revision_and_no_write(writes) -> None:
    """The daily sync fetches the last 7 days every day: the same values again are neither a
    revision nor a write (not even of the month summary)."""
    plant = plants.create_plant(OWNER, "Steady").id
    week = [p for d in range(7) for p in hours(DAY + timedelta(days=d))]
    datapoints.write_days(plant, week)
    before = items(plant)
    writes.clear()
    counts = datapoints.write_days(plant, week)
    assert counts == {DAY + timedelta(days=d): 24 for d in range(7)}
    assert writes == [] and items(plant) == before and items(plant, "R#") == {}
    # a partial answer with the stored values: nothing either
    datapoints.write_days(plant, hours(DAY, 5, first=3))
    assert writes == [] and items(plant) == before


@pytest.mark.usefixtures("sync_env")
def test_each_changed_hour_is_a_revision_with_its_old_and_new_values() -> None:
    plant = plants.create_plant(OWNER, "Corrected").id
    datapoints.write_days(plant, hours(DAY) + hours(DAY + timedelta(days=1)))
    changed = hours(DAY, 2, value=7.0, first=5)  # hours 5 and 6 of the first day get other values
    datapoints.write_days(
        plant, hours(DAY)[:5] + changed, revisions.Cause("daily", why="the service said so")
    )
    (revision,) = revisions.read(plant, DAY - timedelta(days=1), DAY + timedelta(days=3))
    assert (revision.day, revision.cause) == (DAY, revisions.Cause("daily", why="the service said so"))
    assert [(c.hour, c.kind, c.old, c.new) for c in revision.changes] == [
        (5, "changed", (1.5, 2.5, 3.5, 4.5), (7.0, 8.0, 9.0, 10.0)),
        (6, "changed", (1.5, 2.5, 3.5, 4.5), (7.0, 8.0, 9.0, 10.0)),
    ]
    stored = list(datapoints.read_hours(plant, DAY, DAY + timedelta(days=1)))
    assert stored == hours(DAY)[:5] + changed + hours(DAY)[7:]
    # the month's sums follow the new values
    (sums,) = datapoints.read_day_sums(plant, DAY, DAY + timedelta(days=1)).values()
    assert sums.expected_energy == math.fsum(p.expected_energy for p in stored)
    # each hour's provenance on the day item: changed once, at the revision's second
    provenance = revisions.read_provenance(plant, DAY, DAY + timedelta(days=1))[DAY]
    at = int(revision.changed_at.timestamp())
    assert provenance.changed == [at if h in (5, 6) else 0 for h in range(24)]
    assert provenance.count == [1 if h in (5, 6) else 0 for h in range(24)]
    assert len(set(provenance.first)) == 1 and provenance.first[0] <= at


@pytest.mark.usefixtures("sync_env")
def test_a_changed_day_its_revision_and_its_month_go_in_one_transaction(writes) -> None:
    plant = plants.create_plant(OWNER, "Atomic").id
    datapoints.write_days(plant, hours(DAY) + hours(DAY + timedelta(days=1)))
    writes.clear()
    datapoints.write_days(
        plant, hours(DAY, value=2.0) + hours(DAY + timedelta(days=2))
    )  # one changed, one new
    # the changed day's month holds the new one too: both days, one revision, the summary, at once
    assert writes == [("transaction", 4)]
    (key,) = items(plant, "R#")
    assert key.startswith(f"R#{DAY}#")


@pytest.mark.usefixtures("sync_env")
def test_removed_hours_are_revisions_and_stored_again_they_are_restored() -> None:
    plant = plants.create_plant(OWNER, "Amnesia").id
    datapoints.write_days(plant, hours(DAY) + hours(DAY + timedelta(days=1)))
    cause = revisions.Cause("resync", resync_id="x", key_id="k", why="w")
    end = DAY + timedelta(days=2)
    result = datapoints.resync_days(plant, DAY, end, hours(DAY, 20), remove_missing=True, cause=cause)
    assert (result[DAY][0].removed, result[DAY][1]) == (4, 20)
    assert (result[DAY + timedelta(days=1)][0].removed, result[DAY + timedelta(days=1)][1]) == (24, 0)
    assert [(d, h, k) for d, h, k, *_ in logged(plant)] == [
        *((DAY, h, "removed") for h in range(20, 24)),
        *((DAY + timedelta(days=1), h, "removed") for h in range(24)),
    ]
    assert all(old == (1.5, 2.5, 3.5, 4.5) and new is None for *_, old, new, _ in logged(plant))
    # the emptied day stays as an item without hours (its provenance), and reads as no data
    empty = items(plant, f"D#{DAY + timedelta(days=1)}")[f"D#{DAY + timedelta(days=1)}"]
    assert empty["n"] == {"N": "0"} and "ch" in empty
    assert list(datapoints.read_hours(plant, DAY + timedelta(days=1), end)) == []
    assert DAY + timedelta(days=1) not in datapoints.read_day_sums(plant, DAY, end)
    # the service has them again: the daily sync's write restores them
    datapoints.write_days(plant, hours(DAY) + hours(DAY + timedelta(days=1)))
    again = [(d, h, k, old, new) for d, h, k, old, new, _ in logged(plant) if k == "restored"]
    assert len(again) == 28 and all(old is None and new == (1.5, 2.5, 3.5, 4.5) for *_, old, new in again)
    provenance = revisions.read_provenance(plant, DAY, end)
    assert (
        provenance[DAY].count == [0] * 20 + [2] * 4 and provenance[DAY + timedelta(days=1)].count == [2] * 24
    )


@pytest.mark.usefixtures("aws")
def test_revisions_expire_after_the_retention_and_never_after_their_day(use_function_env) -> None:
    use_function_env("SyncWorkerFunction", RevisionRetentionDays="30", SyncUntilYear="10")
    plant = plants.create_plant(OWNER, "Retained").id
    old_day = date.today() - timedelta(days=3650)  # expires within the retention
    datapoints.write_days(plant, hours(DAY) + hours(old_day))
    before = datetime.now(UTC)
    datapoints.write_days(plant, hours(DAY, 1, value=9.0) + hours(old_day, 1, value=9.0))
    logs = items(plant, "R#")
    assert len(logs) == 2
    recent = int(logs[next(k for k in logs if k.startswith(f"R#{DAY}"))]["expires_at"]["N"])
    assert (
        int((before + timedelta(days=30)).timestamp())
        <= recent
        <= int((datetime.now(UTC) + timedelta(days=30)).timestamp())
    )
    oldest = int(logs[next(k for k in logs if k.startswith(f"R#{old_day}"))]["expires_at"]["N"])
    assert oldest == datapoints.expires_at(old_day + timedelta(days=1), 10) < recent
    # and refresh_expiry (a new horizon) leaves revisions to their retention
    assert datapoints.refresh_expiry(10)[0] == len(items(plant)) - 2


@pytest.mark.usefixtures("sync_env")
def test_a_dry_run_counts_and_writes_nothing(writes) -> None:
    plant = plants.create_plant(OWNER, "Dry").id
    datapoints.write_days(plant, hours(DAY))
    writes.clear()
    result = datapoints.resync_days(
        plant, DAY, DAY + timedelta(days=1), [], remove_missing=True, dry_run=True
    )
    assert result[DAY][0].removed == 24 and writes == [] and items(plant, "R#") == {}


# ---- a sync run: the event, and the refresh that writes nothing -------------------------------------


@pytest.mark.loopback
def test_a_daily_run_that_finds_a_correction_publishes_data_revised(
    aws, use_function_env, monkeypatch, simulator, writes
) -> None:
    from powerfactor.sync.run import sync_plant
    from powerfactor.sync.vendor import MonitoringClient

    use_function_env("SyncWorkerFunction", queue_urls=aws, SyncUntilYear="1")

    today = date(2025, 1, 10)
    client = MonitoringClient(simulator.url, today=lambda: today)
    plant = plants.create_plant(OWNER, "Watched").id
    published: list[dict] = []
    monkeypatch.setattr(
        alerts,
        "_put",
        lambda entries, settings: (
            published.extend(e for e in entries if e["Source"] == "powerfactor.data") or 0
        ),
    )
    assert sync_plant(plant, client, today=today).status == "done"
    assert published == [] and items(plant, "R#") == {}  # a backfill stores; it revises nothing
    writes.clear()
    assert sync_plant(plant, client, today=today).status == "done"  # the refresh of the same week
    assert [w for w in writes if w[1]] == [] and published == []
    simulator.set_factor(plant, 0.5)
    assert sync_plant(plant, client, today=today).status == "done"
    (event,) = published
    import json

    detail = json.loads(event["Detail"])
    counts = (detail["cause"], detail["changed"], detail["removed"], detail["restored"])
    assert (event["DetailType"], *counts) == ("data.revised", "daily", 7 * 24, 0, 0)
    assert (detail["from"], detail["to"]) == (str(today - timedelta(days=7)), str(today - timedelta(days=1)))
    assert (
        detail["revisions"]
        == f"/api/solar-plant/plant/{plant}/revisions?from={detail['from']}&to={detail['to']}"
    )
    assert {k for _, _, k, *_ in logged(plant, today - timedelta(days=30), today)} == {"changed"}


@pytest.fixture
def simulator(monkeypatch):
    from devstack.monitoring import MonitoringSimulator

    sim = MonitoringSimulator(port=0)
    sim.start()
    yield sim
    sim.stop()


# ---- the revisions route -----------------------------------------------------------------------------


def test_the_revisions_route_pages_hour_by_hour_with_the_data_routes_rules(api) -> None:
    plant = api("POST", f"{BASE}/", {"name": "Paged"})[2]["id"]
    days = [DAY + timedelta(days=d) for d in range(3)]
    datapoints.write_days(plant, [p for d in days for p in hours(d)])
    datapoints.write_days(plant, hours(days[0], 3, value=5.0))  # 3 revisions
    datapoints.write_days(plant, hours(days[0], 2, value=6.0))  # 2 more, later, same day
    datapoints.write_days(plant, hours(days[2], 24, value=5.0))  # 24
    path = f"{BASE}/plant/{plant}/revisions?from={days[0]}&to={days[2]}"
    status, _, whole = api("GET", path)
    assert status == 200 and whole["next_cursor"] is None and len(whole["items"]) == 29
    first = whole["items"][0]
    assert (
        first["hour"] == f"{days[0]}T00:00:00Z" and first["kind"] == "changed" and first["cause"] == "daily"
    )
    assert first["old"] == {
        "expected": {"energy": 1.5, "irradiation": 2.5},
        "observed": {"energy": 3.5, "irradiation": 4.5},
    }
    assert first["new"]["expected"]["energy"] == 5.0 and first["changed_at"].endswith("Z")
    assert [(i["hour"][11:13], i["new"]["expected"]["energy"]) for i in whole["items"][:5]] == [
        ("00", 5.0),
        ("01", 5.0),
        ("02", 5.0),
        ("00", 6.0),
        ("01", 6.0),
    ]  # by day, then in the order made, then by hour
    seen, cursor = [], None
    while True:
        status, _, page = api("GET", path + "&limit=4" + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200 and len(page["items"]) <= 4
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == whole["items"]
    # the hours' range filter: only the middle day's (none) and the last's
    status, _, last = api("GET", f"{BASE}/plant/{plant}/revisions?from={days[1]}&to={days[2]}")
    assert len(last["items"]) == 24 and {i["hour"][:10] for i in last["items"]} == {str(days[2])}
    # a cursor of another range, from after to, an unknown plant, a bad limit
    cursor = api("GET", path + "&limit=4")[2]["next_cursor"]
    status, _, body = api(
        "GET", f"{BASE}/plant/{plant}/revisions?from={days[1]}&to={days[2]}&cursor={cursor}"
    )
    assert status == 400 and body["error"]["code"] == "invalid_cursor"
    status, _, body = api("GET", f"{BASE}/plant/{plant}/revisions?from={days[2]}&to={days[0]}")
    assert_error(body, 422, "invalid_range")
    status, _, body = api("GET", f"{BASE}/plant/{plant + 1}/revisions?from={days[0]}&to={days[2]}")
    assert_error(body, 404, "plant_not_found")
    for bad in ("limit=0", "limit=10001", "from=2024-5-1", "limit=01"):
        status, _, body = api("GET", f"{BASE}/plant/{plant}/revisions?from={days[0]}&to={days[2]}&{bad}")
        assert status == 422, bad
    assert api("GET", path, scopes=("read",))[0] == 200


# ---- revert ------------------------------------------------------------------------------------------


def _resynced(api, plant: int, start: date, last: date, points: list[Datapoint], **options) -> str:
    """A re-sync of [start, last] as the worker runs it, its answer `points`: its id."""
    now = datetime.now(UTC)
    why = "the service corrected its history"
    stale = now - timedelta(hours=6)
    assert (
        plant_storage.request_resync(
            plant, str(start), str(last), now, stale, key_id="k1", reason=why, **options
        )
        is None
    )
    pending = plant_storage.acquire_sync_lease(plant, "worker", now, 60).resync
    assert pending is not None and pending.id == resync_id(start, last, now)
    writer = datapoints.DayWriter(plant, resync.cause(pending, start, last + timedelta(days=1)))
    writer.resync(start, last + timedelta(days=1), points, remove_missing=bool(options.get("remove_missing")))
    assert plant_storage.clear_resync(plant, "worker")
    plant_storage.release_sync_lease(plant, "worker")
    return pending.id


def test_a_revert_puts_back_every_hour_a_resync_changed_and_is_a_revision_itself(api, monkeypatch) -> None:
    plant = api("POST", f"{BASE}/", {"name": "Reverted"})[2]["id"]
    original = hours(DAY) + hours(DAY + timedelta(days=1))
    datapoints.write_days(plant, original)
    published: list[dict] = []
    monkeypatch.setattr(alerts, "_put", lambda entries, settings: published.extend(entries) or 0)
    corrected = hours(DAY, 12, value=3.0)  # the answer: half of the first day, other values
    rid = _resynced(api, plant, DAY, DAY + timedelta(days=1), corrected, remove_missing=True)
    assert list(datapoints.read_hours(plant, DAY, DAY + timedelta(days=2))) == corrected  # 36 hours went
    path = f"{BASE}/plant/{plant}/resyncs/{rid}/revert"
    status, _, body = api("POST", path, {"reason": "the correction was wrong"})
    assert status == 200, body
    assert (body["changed"], body["removed"], body["restored"]) == (12, 0, 36)
    assert (body["from"], body["to"], body["resync_id"]) == (str(DAY), str(DAY + timedelta(days=1)), rid)
    assert list(datapoints.read_hours(plant, DAY, DAY + timedelta(days=2))) == original
    revisions_path = f"{BASE}/plant/{plant}/revisions?from={DAY}&to={DAY + timedelta(days=1)}"
    listed = api("GET", revisions_path)[2]["items"]
    assert len(listed) == 96
    mine = [i for i in listed if i["cause"] == "resync"]
    back = [i for i in listed if i["cause"] == "revert"]
    assert {(i["resync_id"], i["key_id"]) for i in mine + back} == {(rid, "testkey00000")} | {(rid, "k1")}
    assert {i["key_id"] for i in mine} == {"k1"} and {i["key_id"] for i in back} == {"testkey00000"}
    assert all("the correction was wrong" in i["why"] for i in back)
    assert all("the service corrected its history" in i["why"] for i in mine)
    assert sorted((i["hour"], i["kind"], i["old"], i["new"]) for i in back) == sorted(
        (i["hour"], {"changed": "changed", "removed": "restored"}[i["kind"]], i["new"], i["old"])
        for i in mine
    )
    # one audit entry, in the month's transaction (DAY and the day after are one month)
    log = api("GET", f"{BASE}/audit?from={date.today() - timedelta(days=1)}", scopes=("read", "admin"))[2]
    (entry,) = [e for e in log["items"] if e["action"] == "plant.resync_reverted"]
    assert entry["target"] == f"plant/{plant}" and entry["key_id"] == "testkey00000"
    assert entry["details"] == {"resync_id": rid, "month": DAY.strftime("%Y-%m"), "hours": 48,
                                "reason": "the correction was wrong"}  # fmt: skip
    # reverting twice: refused, nothing written
    status, _, body = api("POST", path)
    assert_error(body, 409, "already_reverted")
    log = api("GET", f"{BASE}/audit?from={date.today() - timedelta(days=1)}", scopes=("read", "admin"))[2]
    assert [e["action"] for e in log["items"]].count("plant.resync_reverted") == 1
    assert len(api("GET", revisions_path)[2]["items"]) == 96
    causes = [
        __import__("json").loads(e["Detail"])["cause"] for e in published if e["Source"] == "powerfactor.data"
    ]
    assert causes == ["revert"]


def test_a_revert_is_refused_when_an_hour_changed_again_since(api) -> None:
    plant = api("POST", f"{BASE}/", {"name": "Moved on"})[2]["id"]
    datapoints.write_days(plant, hours(DAY))
    rid = _resynced(api, plant, DAY, DAY, hours(DAY, value=3.0))
    datapoints.write_days(plant, hours(DAY, 2, value=4.0, first=10))  # the daily sync, later
    before = list(datapoints.read_hours(plant, DAY, DAY + timedelta(days=1)))
    logs = items(plant, "R#")
    body = api("POST", f"{BASE}/plant/{plant}/resyncs/{rid}/revert")[2]
    assert_error(body, 409, "revision_conflict")
    assert [d["location"] for d in body["error"]["details"]] == [
        f"revisions.{DAY}T10:00:00+00:00",
        f"revisions.{DAY}T11:00:00+00:00",
    ]
    assert "by daily" in body["error"]["details"][0]["message"]
    assert list(datapoints.read_hours(plant, DAY, DAY + timedelta(days=1))) == before
    assert items(plant, "R#") == logs  # nothing written
    log = api("GET", f"{BASE}/audit", scopes=("read", "admin"))[2]["items"]
    assert "plant.resync_reverted" not in [e["action"] for e in log]  # nor an audit entry


def test_a_revert_refuses_unknown_busy_and_pending_resyncs_and_read_keys(api) -> None:
    plant = api("POST", f"{BASE}/", {"name": "Refusals"})[2]["id"]
    datapoints.write_days(plant, hours(DAY))
    unknown = resync_id(DAY, DAY, datetime.now(UTC))
    status, _, body = api("POST", f"{BASE}/plant/{plant}/resyncs/{unknown}/revert")
    assert_error(body, 404, "resync_not_found")
    status, _, body = api("POST", f"{BASE}/plant/{plant + 1}/resyncs/{unknown}/revert")
    assert_error(body, 404, "plant_not_found")
    for malformed in (
        "x",
        "20240510-20240509-20240511T000000000000Z",
        "20241310-20241310-20240511T000000000000Z",
    ):
        status, _, body = api("POST", f"{BASE}/plant/{plant}/resyncs/{malformed}/revert")
        assert status in (404, 422), (malformed, body)
    rid = _resynced(api, plant, DAY, DAY, hours(DAY, value=3.0))
    assert api("POST", f"{BASE}/plant/{plant}/resyncs/{rid}/revert", scopes=("read",))[0] == 403
    status, _, body = api("POST", f"{BASE}/plant/{plant}/resyncs/{rid}/revert", {"reason": "x", "extra": 1})
    assert status == 422
    now = datetime.now(UTC)
    assert plant_storage.acquire_sync_lease(plant, "a run", now, 600) is not None
    status, headers, body = api("POST", f"{BASE}/plant/{plant}/resyncs/{rid}/revert")
    assert_error(body, 409, "plant_busy")
    assert headers["Retry-After"] == "60"
    plant_storage.release_sync_lease(plant, "a run")
    assert api("POST", f"{BASE}/plant/{plant}/resyncs/{rid}/revert")[0] == 200


def test_a_resync_and_its_revert_show_who_and_why_on_the_plant(api) -> None:
    plant = api("POST", f"{BASE}/", {"name": "Asked"})[2]["id"]
    body = {"from": str(date.today() - timedelta(days=3)), "to": str(date.today() - timedelta(days=2)),
            "reason": "  the service's outage of Tuesday  "}  # fmt: skip
    status, _, queued = api("POST", f"{BASE}/plant/{plant}/sync", body)
    assert status == 202 and queued["reason"] == "the service's outage of Tuesday"
    assert queued["key_id"] == "testkey00000" and queued["id"].startswith(body["from"].replace("-", ""))
    assert api("GET", f"{BASE}/plant/{plant}")[2]["sync"]["resync"]["id"] == queued["id"]
    status, _, error = api("POST", f"{BASE}/plant/{plant}/resyncs/{queued['id']}/revert")
    assert_error(error, 409, "resync_pending")
    for reason in ("", " ", "a\x00b", "x" * 501, 5):
        assert api("POST", f"{BASE}/plant/{plant}/sync", {**body, "reason": reason})[0] == 422, reason


# ---- provenance ----------------------------------------------------------------------------------------


def test_data_with_provenance_adds_first_stored_last_changed_and_revisions(api) -> None:
    plant = api("POST", f"{BASE}/", {"name": "Provenance", "timezone": "Europe/Berlin"})[2]["id"]
    datapoints.write_days(plant, hours(DAY - timedelta(days=1)) + hours(DAY) + hours(DAY + timedelta(days=1)))
    datapoints.write_days(plant, hours(DAY, 1, value=8.0, first=4))
    path = f"{BASE}/data?plant-id={plant}&from={DAY}&to={DAY}"
    plain = api("GET", path)[2]
    status, _, page = api("GET", path + "&fields=provenance")
    assert status == 200 and len(page["items"]) == len(plain["items"]) == 24
    assert [{k: v for k, v in item.items() if k != "provenance"} for item in page["items"]] == plain["items"]
    (revision,) = revisions.read(plant, DAY, DAY + timedelta(days=1))
    changed = revision.changed_at.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    by_hour = {item["datetime"]: item["provenance"] for item in page["items"]}
    hour4 = by_hour["2024-05-10T06:00:00+02:00"]  # 04:00 UTC
    assert (hour4["last_changed"], hour4["revisions"]) == (changed, 1)
    assert hour4["first_stored"] <= changed and hour4["first_stored"].endswith("Z")
    others = [p for h, p in by_hour.items() if h != "2024-05-10T06:00:00+02:00"]
    assert all(p["revisions"] == 0 and p["last_changed"] is None and p["first_stored"] for p in others)
    # the text is the model's, byte for byte, on every page and in CSV with three columns more
    rows = read_data(OWNER, plant, DAY, DAY + timedelta(days=1), 10)
    assert isinstance(rows, ProvenanceRows) and rows.json() == rows.model().model_dump_json()
    csv_text = api("GET", path + "&fields=provenance&format=csv")[2]
    plain_csv = api("GET", path + "&format=csv")[2]
    header, *lines = csv_text.splitlines()
    assert header == plain_csv.splitlines()[0] + ",first_stored,last_changed,revisions"
    assert [line.rsplit(",", 3)[0] for line in lines] == plain_csv.splitlines()[1:]
    assert lines[6].startswith("2024-05-10T06:00:00+02:00,") and lines[6].endswith(f",{changed},1")
    assert lines[0].endswith(",,0")
    status, _, body = api("GET", path + "&fields=history")
    assert_error(body, 422, "validation_error")
    assert body["error"]["details"][0]["location"] == "query.fields"
    empty = api("GET", f"{BASE}/data?plant-id={plant}&from=2020-01-01&to=2020-01-01&fields=provenance")[2]
    assert empty["items"] == []
