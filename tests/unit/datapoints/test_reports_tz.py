"""Reports and data by local day (`tz`), and the yield KPIs, against values computed by hand.

Every stored hour has the same values (expected 2 kWh and 500 Wh/m², observed 1.5 kWh and
400 Wh/m²), so a bucket's sums are its hour count times these, and a plant of 10 kWp has, for
any bucket: specific yield 0.15 kWh/kWp per hour, expected specific yield 0.2 per hour and a
performance ratio of (1.5 / 10) / (400 / 1000) = 0.375.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from powerfactor.datapoints import store as datapoints
from powerfactor.datapoints.schemas import Datapoint
from powerfactor.plants import logic as plants
from tests.support import OWNER

pytestmark = pytest.mark.usefixtures("aws")

BASE = "/api/solar-plant"
CAPACITY = 10.0


def store(plant_id: int, first: datetime, last: datetime, skip: frozenset[datetime] = frozenset()) -> None:
    """Every UTC hour from `first` to `last` inclusive (but `skip`), with the constant values."""
    points, hour = [], first
    while hour <= last:
        if hour not in skip:
            points.append(Datapoint(hour, 2.0, 500.0, 1.5, 400.0))
        hour += timedelta(hours=1)
    datapoints.write_days(plant_id, points)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def sums(hours: int, capacity: float | None = CAPACITY) -> dict:
    """A bucket's sums and KPIs for this many stored hours (hand-derivable: see the docstring)."""
    kpis = (
        {"specific_yield": round(0.15 * hours, 6), "expected_specific_yield": round(0.2 * hours, 6),
         "performance_ratio": 0.375}
        if capacity and hours else
        {"specific_yield": None, "expected_specific_yield": None, "performance_ratio": None}
    )  # fmt: skip
    return {
        "hours_present": hours,
        "energy": {"expected": 2.0 * hours, "observed": 1.5 * hours,
                   "observed_to_expected": 0.75 if hours else None},
        "irradiation": {"expected": 500.0 * hours, "observed": 400.0 * hours,
                        "observed_to_expected": 0.8 if hours else None},
        **kpis,
    }  # fmt: skip


def core(bucket: dict) -> dict:
    return {k: v for k, v in bucket.items() if k not in ("period", "start", "hours_total")}


def get(api, path: str) -> dict:
    status, _, body = api("GET", f"{BASE}/{path}")
    assert status == 200, body
    return body


@pytest.fixture
def berlin() -> int:
    plant_id = plants.create_plant(OWNER, "Berlin", timezone="Europe/Berlin", capacity_kwp=CAPACITY).id
    store(plant_id, utc(2024, 3, 29), utc(2024, 4, 2, 23))
    store(plant_id, utc(2024, 10, 25), utc(2024, 10, 29, 23))
    return plant_id


def test_berlin_spring_forward_day_has_23_hours_and_no_2_oclock(api, berlin) -> None:
    # local 2024-03-31 = 2024-03-30T23:00Z .. 2024-03-31T22:00Z: 23 hours
    body = get(api, f"report/?plant-id={berlin}&from=2024-03-31&to=2024-03-31")
    assert body["tz"] == "Europe/Berlin"  # the plant's zone by default
    [day] = body["items"]
    assert (day["period"], day["start"], day["hours_total"]) == (
        "2024-03-31",
        "2024-03-31T00:00:00+01:00",
        23,
    )
    assert core(day) == sums(23) and core(body["totals"]) == sums(23) and body["totals"]["hours_total"] == 23
    hours = get(api, f"report/?plant-id={berlin}&from=2024-03-31&to=2024-03-31&granularity=hour")["items"]
    assert [h["period"] for h in hours] == (
        ["2024-03-31T00:00+01:00", "2024-03-31T01:00+01:00"]
        + [f"2024-03-31T{h:02d}:00+02:00" for h in range(3, 24)]
    )
    assert all(core(h) == sums(1) and h["hours_total"] == 1 for h in hours)


def test_berlin_fall_back_day_has_25_hours_and_the_repeated_hour_twice(api, berlin) -> None:
    # local 2024-10-27 = 2024-10-26T22:00Z .. 2024-10-27T23:00Z: 25 hours
    body = get(api, f"report/?plant-id={berlin}&from=2024-10-26&to=2024-10-28")
    assert [(d["period"], d["hours_total"], d["hours_present"]) for d in body["items"]] == [
        ("2024-10-26", 24, 24), ("2024-10-27", 25, 25), ("2024-10-28", 24, 24)
    ]  # fmt: skip
    assert body["items"][1]["start"] == "2024-10-27T00:00:00+02:00"
    assert body["items"][2]["start"] == "2024-10-28T00:00:00+01:00"
    assert core(body["totals"]) == sums(73) and body["totals"]["hours_total"] == 73
    hours = get(api, f"report/?plant-id={berlin}&from=2024-10-27&to=2024-10-27&granularity=hour")["items"]
    periods = [h["period"] for h in hours]
    assert len(periods) == len(set(periods)) == 25
    assert periods[1:4] == ["2024-10-27T01:00+02:00", "2024-10-27T02:00+02:00", "2024-10-27T02:00+01:00"]
    data = get(api, f"data/?plant-id={berlin}&from=2024-10-27&to=2024-10-27")
    stamps = [i["datetime"] for i in data["items"]]
    assert stamps[0] == "2024-10-27T00:00:00+02:00" and stamps[-1] == "2024-10-27T23:00:00+01:00"
    assert stamps[2:4] == ["2024-10-27T02:00:00+02:00", "2024-10-27T02:00:00+01:00"]
    _, _, text = api("GET", f"{BASE}/data/?plant-id={berlin}&from=2024-10-27&to=2024-10-27&format=csv")
    assert [r["datetime"] for r in csv.DictReader(io.StringIO(text))] == stamps


def test_pages_walk_the_repeated_hour_once_each(api, berlin) -> None:
    for path, key in (("data", "datetime"), ("report", "period")):
        url = f"{path}/?plant-id={berlin}&from=2024-10-27&to=2024-10-27&limit=1&granularity=hour"
        seen, cursor = [], None
        while True:
            body = get(api, url + (f"&cursor={cursor}" if cursor else ""))
            seen += [i[key] for i in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 25, path


def test_tz_utc_and_an_iana_name_override_the_plant_zone(api, berlin) -> None:
    body = get(api, f"report/?plant-id={berlin}&from=2024-03-31&to=2024-03-31&tz=UTC")
    assert body["tz"] == "UTC" and body["items"][0]["start"] == "2024-03-31T00:00:00Z"
    assert body["items"][0]["hours_total"] == 24
    local = get(api, f"report/?plant-id={berlin}&from=2024-03-31&to=2024-03-31&tz=local")
    assert local["tz"] == "Europe/Berlin" and local["items"][0]["hours_total"] == 23
    tokyo = get(api, f"report/?plant-id={berlin}&from=2024-03-31&to=2024-03-31&tz=Asia/Tokyo")
    # local 2024-03-31 in Tokyo = 2024-03-30T15:00Z .. 2024-03-31T15:00Z
    assert tokyo["tz"] == "Asia/Tokyo" and tokyo["items"][0]["start"] == "2024-03-31T00:00:00+09:00"
    assert core(tokyo["items"][0]) == sums(24)


def test_missing_hours_are_absent_never_zero(api) -> None:
    plant_id = plants.create_plant(OWNER, "Gaps", timezone="Europe/Berlin").id
    gap = utc(2024, 10, 27, 1)  # the second 02:00 (+01:00)
    store(plant_id, utc(2024, 10, 26, 22), utc(2024, 10, 27, 22), skip=frozenset({gap}))
    day = get(api, f"report/?plant-id={plant_id}&from=2024-10-27&to=2024-10-27")["items"][0]
    assert (day["hours_present"], day["hours_total"]) == (24, 25)
    assert core(day) == sums(24, capacity=None)  # no capacity: KPIs null, never 0
    hours = get(api, f"report/?plant-id={plant_id}&from=2024-10-27&to=2024-10-27&granularity=hour")["items"]
    assert "2024-10-27T02:00+01:00" not in [h["period"] for h in hours] and len(hours) == 24
    _, _, text = api("GET", f"{BASE}/report/?plant-id={plant_id}&from=2024-10-27&to=2024-10-27"
                     "&granularity=hour&format=csv")  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 25 and rows[-1]["period"] == "total" and rows[-1]["hours_total"] == "25"
    assert "2024-10-27T02:00+01:00" not in [r["period"] for r in rows]
    assert rows[0]["specific_yield_kwh_kwp"] == "" and rows[0]["performance_ratio"] == ""


@pytest.mark.parametrize(
    ("day", "hours", "start"),
    [("2024-03-10", 23, "2024-03-10T00:00:00-05:00"), ("2024-11-03", 25, "2024-11-03T00:00:00-04:00")],
)
def test_new_york(api, day: str, hours: int, start: str) -> None:
    plant_id = plants.create_plant(OWNER, f"NY {day}", capacity_kwp=CAPACITY).id  # no zone: tz given
    d = date.fromisoformat(day)
    store(
        plant_id,
        utc(d.year, d.month, d.day) - timedelta(days=1),
        utc(d.year, d.month, d.day) + timedelta(days=2),
    )
    body = get(api, f"report/?plant-id={plant_id}&from={day}&to={day}&tz=America/New_York")
    [bucket] = body["items"]
    assert (bucket["start"], bucket["hours_total"]) == (start, hours) and core(bucket) == sums(hours)
    hour_items = get(
        api, f"report/?plant-id={plant_id}&from={day}&to={day}&tz=America/New_York&granularity=hour"
    )
    assert hour_items["items"][0]["period"] == start[:16] + start[19:]
    assert len(hour_items["items"]) == hours
    # the UTC view of the same day is a plain 24 hours
    assert get(api, f"report/?plant-id={plant_id}&from={day}&to={day}")["items"][0]["hours_total"] == 24


def test_sydney_both_changes(api) -> None:
    plant_id = plants.create_plant(OWNER, "Sydney", timezone="Australia/Sydney", capacity_kwp=CAPACITY).id
    store(plant_id, utc(2024, 4, 5), utc(2024, 4, 8, 23))
    store(plant_id, utc(2024, 10, 4), utc(2024, 10, 7, 23))
    april = get(api, f"report/?plant-id={plant_id}&from=2024-04-06&to=2024-04-07")["items"]
    # 2024-04-07: 00:00+11:00 (2024-04-06T13:00Z) .. 00:00+10:00 on the 8th (2024-04-07T14:00Z)
    assert [(b["start"], b["hours_total"]) for b in april] == [
        ("2024-04-06T00:00:00+11:00", 24), ("2024-04-07T00:00:00+11:00", 25)
    ]  # fmt: skip
    assert core(april[1]) == sums(25)
    october = get(api, f"report/?plant-id={plant_id}&from=2024-10-06&to=2024-10-06")["items"]
    assert [(b["start"], b["hours_total"]) for b in october] == [("2024-10-06T00:00:00+10:00", 23)]
    assert core(october[0]) == sums(23)


def test_kolkata_half_hour_offset(api) -> None:
    plant_id = plants.create_plant(OWNER, "Kolkata", timezone="Asia/Kolkata", capacity_kwp=CAPACITY).id
    store(plant_id, utc(2024, 3, 29), utc(2024, 4, 1, 23))
    # local 2024-03-30 = 2024-03-29T18:30Z .. 2024-03-30T18:30Z: the UTC hours 19:00 .. 18:00
    body = get(api, f"report/?plant-id={plant_id}&from=2024-03-30&to=2024-03-31&granularity=month")
    [march] = body["items"]
    assert (march["period"], march["start"], march["hours_total"]) == (
        "2024-03",
        "2024-03-01T00:00:00+05:30",
        48,
    )
    assert core(march) == sums(48)
    hours = get(api, f"report/?plant-id={plant_id}&from=2024-03-30&to=2024-03-30&granularity=hour")["items"]
    assert [h["period"] for h in hours][:2] == ["2024-03-30T00:30+05:30", "2024-03-30T01:30+05:30"]
    assert hours[-1]["period"] == "2024-03-30T23:30+05:30" and len(hours) == 24
    data = get(api, f"data/?plant-id={plant_id}&from=2024-03-30&to=2024-03-30")["items"]
    assert data[0]["datetime"] == "2024-03-30T00:30:00+05:30" and len(data) == 24
    days = get(api, f"report/?plant-id={plant_id}&from=2024-03-30&to=2024-04-01")["items"]
    assert [(d["period"], d["hours_present"], d["hours_total"]) for d in days] == [
        ("2024-03-30", 24, 24), ("2024-03-31", 24, 24), ("2024-04-01", 24, 24)
    ]  # fmt: skip


def test_moscow_2014_a_change_of_standard_offset(api) -> None:
    """Moscow left +04:00 for +03:00 on 2014-10-26 at 02:00 local: that day has 25 hours and
    01:00 twice; no DST afterwards."""
    plant_id = plants.create_plant(OWNER, "Moscow", timezone="Europe/Moscow").id
    store(plant_id, utc(2014, 10, 24), utc(2014, 10, 27, 23))
    days = get(api, f"report/?plant-id={plant_id}&from=2014-10-25&to=2014-10-27")
    assert [(d["start"], d["hours_total"], d["hours_present"]) for d in days["items"]] == [
        ("2014-10-25T00:00:00+04:00", 24, 24),
        ("2014-10-26T00:00:00+04:00", 25, 25),
        ("2014-10-27T00:00:00+03:00", 24, 24),
    ]
    assert days["totals"]["hours_total"] == 73 and days["totals"]["energy"]["observed"] == 1.5 * 73
    hours = get(api, f"report/?plant-id={plant_id}&from=2014-10-26&to=2014-10-26&granularity=hour")["items"]
    assert [h["period"] for h in hours][1:3] == ["2014-10-26T01:00+04:00", "2014-10-26T01:00+03:00"]


def test_apia_2011_a_skipped_day(api) -> None:
    """Samoa skipped 2011-12-30 (from -10:00 to +14:00): the day has no hours at all."""
    plant_id = plants.create_plant(OWNER, "Apia", timezone="Pacific/Apia").id
    store(plant_id, utc(2011, 12, 28), utc(2011, 12, 31, 23))
    body = get(api, f"report/?plant-id={plant_id}&from=2011-12-29&to=2011-12-31")
    assert [(d["period"], d["start"], d["hours_total"]) for d in body["items"]] == [
        ("2011-12-29", "2011-12-29T00:00:00-10:00", 24), ("2011-12-31", "2011-12-31T00:00:00+14:00", 24)
    ]  # fmt: skip
    assert body["totals"]["hours_total"] == body["totals"]["hours_present"] == 48
    skipped = get(api, f"report/?plant-id={plant_id}&from=2011-12-30&to=2011-12-30")
    assert skipped["items"] == [] and skipped["totals"]["hours_total"] == 0


def test_a_plant_without_a_zone_reports_in_utc(api) -> None:
    plant_id = plants.create_plant(OWNER, "Plain").id
    store(plant_id, utc(2024, 3, 31), utc(2024, 3, 31, 23))
    body = get(api, f"report/?plant-id={plant_id}&from=2024-03-31&to=2024-03-31")
    assert body["tz"] == "UTC" and body["items"][0]["start"] == "2024-03-31T00:00:00Z"
    assert core(body["items"][0]) == sums(24, capacity=None)


def test_performance_ratio_is_null_without_irradiation_and_kpis_follow_a_patch(api) -> None:
    plant_id = plants.create_plant(OWNER, "Night").id
    datapoints.write_days(plant_id, [Datapoint(utc(2024, 6, 1, 0), 0.0, 0.0, 0.25, 0.0)])
    url = f"report/?plant-id={plant_id}&from=2024-06-01&to=2024-06-01"
    assert get(api, url)["totals"]["specific_yield"] is None  # no capacity yet
    assert api("PATCH", f"{BASE}/plant/{plant_id}", {"capacity_kwp": 0.5})[0] == 200
    totals = get(api, url)["totals"]
    assert totals["specific_yield"] == 0.5 and totals["expected_specific_yield"] == 0.0
    assert totals["performance_ratio"] is None  # H = 0: no reference yield
