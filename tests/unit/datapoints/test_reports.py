"""Data and report endpoints against moto, checked against sums computed by hand."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from powerfactor.datapoints import store as datapoints
from powerfactor.datapoints.schemas import Datapoint
from powerfactor.plants import logic as plants
from powerfactor.runtime import cursors
from tests.support import OWNER, expected_row

pytestmark = pytest.mark.usefixtures("aws")

BASE = "/api/solar-plant"


def value(hour: datetime, field: int) -> float:
    """Deterministic, varied test values; expected irradiation is 0 at night (hours 0-5)."""
    if field == 1 and hour.hour < 6:
        return 0.0
    return ((hour.toordinal() * 24 + hour.hour) * (field + 3) % 997) / 7.0


def point(hour: datetime) -> Datapoint:
    return Datapoint(hour, *(value(hour, f) for f in range(4)))


def hours(start: date, end: date, skip: set[datetime] = frozenset()) -> list[Datapoint]:
    h = datetime(start.year, start.month, start.day, tzinfo=UTC)
    out = []
    while h < datetime(end.year, end.month, end.day, tzinfo=UTC):
        if h not in skip:
            out.append(point(h))
        h += timedelta(hours=1)
    return out


MISSING = {datetime(2024, 2, 29, 13, tzinfo=UTC), datetime(2024, 3, 1, 0, tzinfo=UTC)}


@pytest.fixture
def plant() -> int:
    plant_id = plants.create_plant(OWNER, "Reported").id
    datapoints.write_days(plant_id, hours(date(2024, 1, 30), date(2024, 3, 3), skip=MISSING))
    return plant_id


def strip(bucket: dict) -> dict:
    return {k: v for k, v in bucket.items() if k not in ("period", "start")}


def test_day_report_across_a_month_end_and_a_leap_day(api, plant) -> None:
    status, _, body = api("GET", f"{BASE}/report/?plant-id={plant}&from=2024-02-28&to=2024-03-01")
    assert status == 200 and body["granularity"] == "day" and body["from"] == "2024-02-28"
    assert [b["period"] for b in body["items"]] == ["2024-02-28", "2024-02-29", "2024-03-01"]
    for bucket, day in zip(
        body["items"], (date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1)), strict=True
    ):
        assert strip(bucket) == expected_row(hours(day, day + timedelta(days=1), MISSING), 24)
    assert body["items"][1]["hours_present"] == 23 and body["items"][2]["hours_present"] == 23
    assert body["totals"] == expected_row(hours(date(2024, 2, 28), date(2024, 3, 2), MISSING), 72)
    assert body["next_cursor"] is None


def test_month_report_counts_only_the_days_inside_the_range(api, plant) -> None:
    _, _, body = api(
        "GET", f"{BASE}/report/?plant-id={plant}&from=2024-01-31&to=2024-03-02&granularity=month"
    )
    assert [b["period"] for b in body["items"]] == ["2024-01", "2024-02", "2024-03"]
    assert strip(body["items"][0]) == expected_row(hours(date(2024, 1, 31), date(2024, 2, 1)), 24)
    assert strip(body["items"][1]) == expected_row(
        hours(date(2024, 2, 1), date(2024, 3, 1), MISSING), 29 * 24
    )
    assert strip(body["items"][2]) == expected_row(hours(date(2024, 3, 1), date(2024, 3, 3), MISSING), 48)
    assert body["totals"] == expected_row(hours(date(2024, 1, 31), date(2024, 3, 3), MISSING), 32 * 24)


def test_hour_report_and_a_zero_expected_value_has_no_ratio(api, plant) -> None:
    _, _, body = api("GET", f"{BASE}/report/?plant-id={plant}&from=2024-02-29&to=2024-02-29&granularity=hour")
    assert len(body["items"]) == 23  # 13:00 is missing
    first = body["items"][0]
    assert first["period"] == "2024-02-29T00:00Z" and first["start"] == "2024-02-29T00:00:00Z"
    assert first["irradiation"]["expected"] == 0 and first["irradiation"]["observed_to_expected"] is None
    for bucket, p in zip(body["items"], hours(date(2024, 2, 29), date(2024, 3, 1), MISSING), strict=True):
        assert strip(bucket) == expected_row([p], 1)


def test_from_equal_to_is_one_whole_day(api, plant) -> None:
    _, _, body = api("GET", f"{BASE}/report/?plant-id={plant}&from=2024-03-02&to=2024-03-02")
    assert body["totals"]["hours_present"] == 24 and body["totals"]["hours_total"] == 24
    _, _, data = api("GET", f"{BASE}/data/?plant-id={plant}&from=2024-03-02&to=2024-03-02")
    assert [i["datetime"] for i in data["items"]] == [f"2024-03-02T{h:02d}:00:00Z" for h in range(24)]


def test_an_empty_range_is_an_empty_list_with_zero_totals(api, plant) -> None:
    _, _, body = api(
        "GET", f"{BASE}/report/?plant-id={plant}&from=2020-01-01&to=2020-01-31&granularity=month"
    )
    zero = {"expected": 0, "observed": 0, "observed_to_expected": None}
    assert body["items"] == []
    assert body["totals"] == {
        "hours_present": 0, "hours_total": 744, "energy": zero, "irradiation": zero,
        "specific_yield": None, "expected_specific_yield": None, "performance_ratio": None,
    }  # fmt: skip
    _, _, data = api("GET", f"{BASE}/data/?plant-id={plant}&from=2020-01-01&to=2020-01-31")
    assert data["items"] == [] and data["next_cursor"] is None


def test_data_is_the_stored_hours_exactly_in_order(api, plant) -> None:
    _, _, body = api("GET", f"{BASE}/data/?plant-id={plant}&from=2024-02-29&to=2024-03-01")
    want = hours(date(2024, 2, 29), date(2024, 3, 2), MISSING)
    assert len(body["items"]) == len(want) == 46
    for item, p in zip(body["items"], want, strict=True):
        assert item == {
            "datetime": p.hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "expected": {"energy": p.expected_energy, "irradiation": p.expected_irradiation},
            "observed": {"energy": p.observed_energy, "irradiation": p.observed_irradiation},
        }


@pytest.mark.parametrize(("path", "size"), [("data", 100), ("report", 7)])
def test_pages_walk_the_whole_range_once(api, plant, path, size) -> None:
    granularity = "&granularity=hour" if path == "data" else ""
    url = f"{BASE}/{path}/?plant-id={plant}&from=2024-01-30&to=2024-03-02&limit={size}{granularity}"
    seen, cursor = [], None
    while True:
        _, _, body = api("GET", url + (f"&cursor={cursor}" if cursor else ""))
        assert len(body["items"]) <= size
        seen += [i.get("datetime") or i["period"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert (
        len(seen)
        == len(set(seen))
        == (len(hours(date(2024, 1, 30), date(2024, 3, 3), MISSING)) if path == "data" else 33)
    )
    assert seen == sorted(seen)


def test_csv_by_parameter_and_by_accept_header(api, plant) -> None:
    status, headers, text = api(
        "GET", f"{BASE}/report/?plant-id={plant}&from=2024-02-28&to=2024-03-01&format=csv"
    )
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["period"] for r in rows] == ["2024-02-28", "2024-02-29", "2024-03-01", "total"]
    _, _, body = api("GET", f"{BASE}/report/?plant-id={plant}&from=2024-02-28&to=2024-03-01")
    assert float(rows[-1]["energy_observed_kwh"]) == body["totals"]["energy"]["observed"]
    status, headers, text = api(
        "GET", f"{BASE}/data/?plant-id={plant}&from=2024-03-02&to=2024-03-02", headers={"Accept": "text/csv"}
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 24 and float(rows[0]["observed_energy_kwh"]) == value(
        datetime(2024, 3, 2, tzinfo=UTC), 2
    )


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("from=2024-01-01&to=2024-01-02", 422, "validation_error"),
        ("plant-id=abc&from=2024-01-01&to=2024-01-02", 422, "validation_error"),
        ("plant-id=0&from=2024-01-01&to=2024-01-02", 422, "validation_error"),
        ("plant-id={p}&to=2024-01-02", 422, "validation_error"),
        ("plant-id={p}&from=2024-01-01", 422, "validation_error"),
        ("plant-id={p}&from=01-01-2024&to=2024-01-02", 422, "validation_error"),
        ("plant-id={p}&from=2024-1-1&to=2024-01-02", 422, "validation_error"),
        ("plant-id={p}&from=20240101&to=2024-01-02", 422, "validation_error"),
        ("plant-id={p}&from=2023-02-29&to=2024-01-02", 422, "validation_error"),
        ("plant-id={p}&from=2024-13-01&to=2024-01-02", 422, "validation_error"),
        ("plant-id={p}&from=2024-01-03&to=2024-01-02", 422, "invalid_range"),
        ("plant-id={p}&from=2024-01-01&to=2024-01-02&granularity=week", 422, "validation_error"),
        ("plant-id={p}&from=2024-01-01&to=2024-01-02&limit=0", 422, "validation_error"),
        ("plant-id={p}&from=2024-01-01&to=2024-01-02&limit=10001", 422, "validation_error"),
        ("plant-id={p}&from=2024-01-01&to=2024-01-02&format=xml", 422, "validation_error"),
        ("plant-id={p}&from=2024-01-01&to=2024-01-02&cursor=bogus", 400, "invalid_cursor"),
        ("plant-id=9999&from=2024-01-01&to=2024-01-02", 404, "plant_not_found"),
        ("plant-id={p}&from=2024-01-01&to=2024-01-02&tz=Mars/Olympus", 422, "validation_error"),
        ("plant-id={p}&from=2024-01-01&to=2024-01-02&tz=europe/berlin", 422, "validation_error"),
        ("plant-id={p}&from=2024-01-01&to=2024-01-02&tz=local", 422, "no_time_zone"),
    ],
)
@pytest.mark.parametrize("path", ["data", "report"])
def test_bad_queries(api, plant, path, query, status, code) -> None:
    if path == "data" and "granularity" in query:
        pytest.skip("the data endpoint has no granularity")
    got, _, body = api("GET", f"{BASE}/{path}/?" + query.format(p=plant))
    assert (got, body["error"]["code"]) == (status, code), body


def test_a_data_cursor_is_not_a_report_cursor(api, plant) -> None:
    _, _, body = api("GET", f"{BASE}/data/?plant-id={plant}&from=2024-02-01&to=2024-02-02&limit=5")
    status, _, error = api(
        "GET", f"{BASE}/report/?plant-id={plant}&from=2024-02-01&to=2024-02-02&cursor={body['next_cursor']}"
    )
    assert status == 400 and error["error"]["code"] == "invalid_cursor"


def test_wrong_method_on_data_is_405(api) -> None:
    status, headers, body = api("POST", f"{BASE}/data/", {})
    assert status == 405 and body["error"]["code"] == "method_not_allowed" and headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    ("path", "kind"), [("data", "data"), ("report", "day"), ("report&granularity=hour", "hour")]
)
def test_a_well_formed_cursor_with_a_forged_position_is_refused(api, plant, path, kind) -> None:
    forged = cursors.encode(
        kind, "not-a-time", f"{plant}/2024-02-01/2024-02-02", OWNER.scope_key
    )  # bound to this request
    url = f"{BASE}/{path.split('&')[0]}/?plant-id={plant}&from=2024-02-01&to=2024-02-02&cursor={forged}"
    status, _, body = api("GET", url + ("&" + path.split("&")[1] if "&" in path else ""))
    assert status == 400 and body["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    ("path", "kind", "position"),
    [("report", "hour", "0999-01-01T00:00Z"), ("data", "data", "0999-01-01T00:00:00+00:00")],
)
def test_a_forged_position_before_year_1000_is_no_500(api, plant, path, kind, position) -> None:
    """strptime reads `%Y` 0999, strftime writes it 999: an hour report's cursor normalised that
    way then failed in date.fromisoformat, a 500 before issue 13's reads; now refused (400), as
    is a data cursor's instant outside the range (issue 21: positions are checked, not clamped)."""
    forged = cursors.encode(kind, position, f"{plant}/2024-02-01/2024-02-02", OWNER.scope_key)
    query = f"plant-id={plant}&from=2024-02-01&to=2024-02-02&cursor={forged}"
    status, _, body = api(
        "GET", f"{BASE}/{path}/?{query}" + ("&granularity=hour" if path == "report" else "")
    )
    assert (status, body["error"]["code"]) == (400, "invalid_cursor"), body


@pytest.mark.parametrize("other", ["from=2024-01-01&to=2024-02-02", "from=2024-02-01&to=2024-02-03"])
def test_a_cursor_replayed_on_another_range_is_refused(api, plant, other) -> None:
    _, _, first = api("GET", f"{BASE}/data/?plant-id={plant}&from=2024-02-01&to=2024-02-02&limit=5")
    status, _, error = api("GET", f"{BASE}/data/?plant-id={plant}&{other}&cursor={first['next_cursor']}")
    assert status == 400 and error["error"]["code"] == "invalid_cursor"


def test_a_cursor_replayed_on_another_plant_is_refused(api, plant) -> None:
    other = api("POST", BASE, {"name": "Other plant"})[2]["id"]
    _, _, first = api(
        "GET", f"{BASE}/report/?plant-id={plant}&from=2024-02-01&to=2024-02-02&granularity=hour&limit=5"
    )
    url = f"{BASE}/report/?plant-id={other}&from=2024-02-01&to=2024-02-02&granularity=hour"
    status, _, error = api("GET", f"{url}&cursor={first['next_cursor']}")
    assert status == 400 and error["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize("kind", ["data", "hour"])
def test_a_forged_position_outside_the_range_is_refused(api, plant, kind) -> None:
    """A cursor forged for the caller's own request cannot reach hours outside its range: its
    position is checked against the range (a cursor this API wrote always lies inside it)."""
    for after in ("2000-01-01T00:00:00+00:00", "2024-02-03T00:00:00+00:00", "2024-01-31T23:00:00+00:00"):
        if kind == "hour":
            after = after[:13] + ":00Z"
        forged = cursors.encode(kind, after, f"{plant}/2024-02-01/2024-02-02", OWNER.scope_key)
        path = "data/?" if kind == "data" else "report/?granularity=hour&"
        _, _, error = api(
            "GET", f"{BASE}/{path}plant-id={plant}&from=2024-02-01&to=2024-02-02&cursor={forged}"
        )
        assert error["error"]["code"] == "invalid_cursor", (after, error)
