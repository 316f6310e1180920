"""/data and /report answer byte for byte what they answered before the fast read path (issue 13).

`tests/unit/data/read_bytes.json` holds every page of the requests below (status, content type,
`X-Next-Cursor`, the body or, over 600 characters, its length and SHA-256), recorded with the
code of commit 10a4a22 (pydantic models serialized by `model_dump_json`, the `csv` module over
the models): ranges across both of Europe/Berlin's DST changes, Asia/Kolkata's half-hour offset,
UTC, the plant's own zone; hour, day and month buckets; JSON and CSV (`format` and `Accept`);
limits of 1 to 10,000 with every page followed by its cursor; missing hours and a missing day;
values whose text differs between Python's `repr` and pydantic-core (1e-05, 1e-07, 1e+16), -0.0
and zeros (ratios that are null); a plant without data, an unknown plant, a bad cursor.

Cursors have since been bound to the key that was given them (runtime/cursors.py: a field `s`, the
digest of the caller's scope, after the request's `r`). The pages are compared as the code before
that wrote them: each cursor's `s` must be the reading key's, and is then taken out (`_unbound`),
which leaves, byte for byte, the cursor that code wrote; every other byte is compared as it is.

Re-record (only when the bytes are meant to change): `python -m tests.unit.datapoints.test_read_bytes`.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import itertools
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from powerfactor.datapoints import render as pages
from powerfactor.datapoints import store as datapoints
from powerfactor.datapoints.schemas import DataPage, Datapoint, ReportPage, ReportRow
from powerfactor.plants import logic as plants
from powerfactor.runtime import cursors
from tests.support import OWNER

GOLDEN = Path(__file__).parent / "data" / "read_bytes.json"
BASE = "/api/solar-plant"
ZONES = ("&tz=UTC", "&tz=Europe/Berlin", "&tz=Asia/Kolkata")
LONG_LIMITS = ("&limit=100", "&limit=10000")
SHOWN = 600  # a body up to this size is kept whole in the file, a longer one as its digest
ODD = (1e-05, 1.234e-05, 1e-07, 2.5e-06, 1e16, 1.5e17, -0.0, 0.1 + 0.2, 123456.789, 1e-100, 1e100)


def _value(hour: datetime, field: int) -> float:
    """Varied values: zeros at night (null ratios), now and then one whose text is awkward."""
    n = hour.toordinal() * 24 + hour.hour
    if hour.hour < 5 and field in (0, 1):
        return 0.0
    if n % 37 == field:
        return ODD[(n // 37 + field) % len(ODD)]
    return ((n * (field + 3)) % 997) / 7.0 + field / 3


def _points(start: date, end: date, skip: Callable[[datetime], bool]) -> list[Datapoint]:
    hour, stop = (
        datetime(start.year, start.month, start.day, tzinfo=UTC),
        datetime(end.year, end.month, end.day, tzinfo=UTC),
    )
    out = []
    while hour < stop:
        if not skip(hour):
            out.append(Datapoint(hour, *(_value(hour, f) for f in range(4))))
        hour += timedelta(hours=1)
    return out


def _gaps(hour: datetime) -> bool:
    """Missing: a whole UTC day, a few single hours, and the hours around Berlin's autumn change."""
    return (
        hour.date() == date(2024, 3, 27)
        or (hour.day, hour.hour) in ((29, 13), (30, 23), (1, 0), (26, 0))
        or datetime(2024, 10, 27, 0, tzinfo=UTC) <= hour < datetime(2024, 10, 27, 2, tzinfo=UTC)
    )


def _seed() -> tuple[int, int]:
    """Two plants: one with a capacity (KPIs) and Europe/Berlin, one without and Asia/Kolkata."""
    berlin = plants.create_plant(OWNER, "Bytes Berlin", capacity_kwp=12.5, timezone="Europe/Berlin").id
    kolkata = plants.create_plant(OWNER, "Bytes Kolkata", timezone="Asia/Kolkata").id
    for plant_id in (berlin, kolkata):
        datapoints.write_days(plant_id, _points(date(2024, 3, 20), date(2024, 4, 4), _gaps))
        datapoints.write_days(plant_id, _points(date(2024, 10, 22), date(2024, 11, 2), _gaps))
        datapoints.write_days(plant_id, _points(date(2024, 12, 30), date(2025, 1, 2), _gaps))
    return berlin, kolkata


def _requests(berlin: int, kolkata: int) -> Iterator[tuple[str, dict[str, str]]]:
    """(path, headers) of the first page of every chain recorded."""
    short = [("2024-03-29", "2024-04-02"), ("2024-10-25", "2024-10-29")]
    spans = [(r, tz, limit) for r in short for tz in ZONES for limit in ("", "&limit=24")]
    spans += [(short[0], tz, "") for tz in ("", "&tz=local")]  # the plant's own zone
    spans += [(("2024-03-20", "2024-11-01"), tz, limit) for tz in ZONES for limit in LONG_LIMITS]
    csv_accept = {"Accept": "text/csv"}
    for plant_id in (berlin, kolkata):
        for (first, last), tz, limit in spans:
            query = f"plant-id={plant_id}&from={first}&to={last}{tz}{limit}"
            yield f"{BASE}/data/?{query}", {}
            yield f"{BASE}/data/?{query}&format=csv", {}
            for granularity in ("hour", "day", "month"):
                yield f"{BASE}/report/?{query}&granularity={granularity}", {}
                yield f"{BASE}/report/?{query}&granularity={granularity}", csv_accept
        day = f"plant-id={plant_id}&from=2024-03-31&to=2024-03-31"
        yield f"{BASE}/data/?{day}&limit=1&tz=Europe/Berlin", {}
        yield f"{BASE}/report/?{day}&limit=1&granularity=hour&format=csv&tz=Asia/Kolkata", {}
    new_year = f"plant-id={berlin}&from=2024-12-31&to=2025-01-01&tz=Asia/Kolkata&limit=3"
    yield f"{BASE}/data/?{new_year}", csv_accept
    yield f"{BASE}/report/?{new_year}&granularity=hour", {}
    yield f"{BASE}/data/?plant-id={berlin}&from=2023-01-01&to=2023-12-31", {}  # no data at all
    yield f"{BASE}/report/?plant-id={berlin}&from=2023-01-01&to=2023-01-02&granularity=hour", {}
    yield f"{BASE}/data/?plant-id=999999&from=2024-03-29&to=2024-03-30", {}  # no such plant
    yield f"{BASE}/report/?plant-id=999999&from=2024-03-29&to=2024-03-30&granularity=hour", {}
    yield f"{BASE}/data/?plant-id={berlin}&from=2024-03-29&to=2024-03-30&cursor=bm9wZQ", {}


READER = OWNER.scope_key  # the key of every request recorded: `caller(("read",))`, the default account's


def _unbound(cursor: str) -> str:
    """A cursor as the code before cursors were bound to keys wrote it: without its `s`, which
    must be the reading key's scope."""
    payload = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    assert payload.pop("s") == cursors.scope_digest(READER), cursor
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def _chain(api: Callable[..., Any], path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every page of a request, each next one asked for with the cursor the last one gave (and
    recorded with that cursor `_unbound`)."""
    pages: list[dict[str, Any]] = []
    cursor = None
    previous = None  # the cursor the last page gave, as it was given
    while True:
        url = path + (f"&cursor={quote(cursor)}" if cursor else "")
        status, reply_headers, body = api(url, headers)
        cursor = None
        if status == 200 and reply_headers.get("Content-Type", "").startswith("text/csv"):
            cursor = reply_headers.get("X-Next-Cursor")
        elif status == 200:
            cursor = json.loads(body)["next_cursor"]
        header = reply_headers.get("X-Next-Cursor")
        if cursor is not None:
            assert body.count(cursor) <= 1
            body = body.replace(cursor, _unbound(cursor))
            header = _unbound(header) if header is not None else None
        recorded_url = url if previous is None else url.replace(quote(previous), quote(_unbound(previous)))
        pages.append(
            {
                "url": recorded_url,
                "status": status,
                "content_type": reply_headers.get("Content-Type"),
                "next_cursor_header": header,
                **_body(body),
            }
        )
        if status != 200 or cursor is None:
            return pages
        previous = cursor
        assert len(pages) < 200


def _body(text: str) -> dict[str, Any]:
    if len(text) <= SHOWN:
        return {"body": text}
    return {"length": len(text), "sha256": hashlib.sha256(text.encode()).hexdigest()}


def _raw_api(template: Any) -> Callable[..., tuple[int, dict[str, str], str]]:
    """The handler called in-process as API Gateway would; the body as the text it returned."""
    from urllib.parse import urlsplit

    from devstack.apigateway import build_event, match_route
    from devstack.lambdas import FakeContext, load_handler
    from tests.support import caller

    routes, functions = template.api_routes(), template.functions()

    def call(path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], str]:
        route, params, _ = match_route(routes, "GET", urlsplit(path).path)
        reader = caller(("read",))
        event = build_event(route, "GET", path, params, list(headers.items()), b"", "Prod", authorizer=reader)
        function = functions[route.function]
        handler = load_handler(function, template.layer_dirs())
        result = handler(event, FakeContext(function.logical_id, function.memory, function.timeout))
        reply_headers = dict(result.get("headers") or {})
        reply_headers.update({k: v[-1] for k, v in (result.get("multiValueHeaders") or {}).items()})
        return result["statusCode"], reply_headers, result.get("body") or ""

    return call


def _record(template: Any) -> dict[str, Any]:
    berlin, kolkata = _seed()
    api = _raw_api(template)
    return {
        "plants": [berlin, kolkata],
        "chains": [_chain(api, path, headers) for path, headers in _requests(berlin, kolkata)],
    }


@pytest.mark.usefixtures("aws")
def test_every_page_is_byte_for_byte_what_it_was(template: Any) -> None:
    want = json.loads(GOLDEN.read_text())
    got = _record(template)
    assert got["plants"] == want["plants"]
    assert len(got["chains"]) == len(want["chains"])
    for got_chain, want_chain in zip(got["chains"], want["chains"], strict=True):
        assert [page["url"] for page in got_chain] == [page["url"] for page in want_chain]
        for got_page, want_page in zip(got_chain, want_chain, strict=True):
            assert got_page == want_page, got_page["url"]


def _main() -> None:  # pragma: no cover - records the golden file
    import boto3
    from moto import mock_aws

    from devstack.queues import ensure_queues
    from devstack.stack import function_environment, table_names
    from devstack.tables import ensure_tables
    from devstack.template import load_template
    from powerfactor.runtime.settings import reset_settings

    template = load_template()
    with mock_aws():
        ensure_tables(boto3.client("dynamodb", region_name="us-east-1"), template, table_names(template))
        queue_urls = ensure_queues(boto3.client("sqs", region_name="us-east-1"), template)
        os.environ.update(function_environment(template, {}, queue_urls)["PlantsApiFunction"])
        reset_settings()
        recorded = _record(template)
    GOLDEN.write_text(json.dumps(recorded, indent=0, ensure_ascii=False) + "\n")
    pages = sum(len(chain) for chain in recorded["chains"])
    print(f"{GOLDEN}: {len(recorded['chains'])} requests, {pages} pages, {GOLDEN.stat().st_size:,} bytes")


if __name__ == "__main__":
    _main()
    sys.exit(0)


# ---- the text against the models it stands for, over any float and any zone ----

FLOAT = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e-05, 1e-07, 1e16, 5e-324, 0.0000125, 0.5e-6, 1 / 128, math.nan]),
)
ZONE = st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata", "America/St_Johns", "Africa/Monrovia",
                        "Australia/Lord_Howe", "Pacific/Chatham", "America/Sao_Paulo"])  # fmt: skip
DAY = st.dates(date(1970, 1, 1), date(2199, 12, 31))


def _zone(name: str) -> tzinfo:
    return UTC if name == "UTC" else ZoneInfo(name)


def _old_data_csv(page: DataPage) -> str:
    """reports.data_csv as 10a4a22 wrote it, over the page model."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["datetime", "expected_energy_kwh", "expected_irradiation_wh_m2",
                     "observed_energy_kwh", "observed_irradiation_wh_m2"])  # fmt: skip
    for item in page.items:
        stamp = item.hour.strftime("%Y-%m-%dT%H:%M:%SZ") if item.hour.tzinfo is UTC else item.hour.isoformat()
        writer.writerow([stamp, repr(item.expected.energy), repr(item.expected.irradiation),
                         repr(item.observed.energy), repr(item.observed.irradiation)])  # fmt: skip
    return out.getvalue()


def _old_report_csv(page: ReportPage) -> str:
    """reports.report_csv as 10a4a22 wrote it, over the page model."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["period", "hours_present", "hours_total", "energy_expected_kwh", "energy_observed_kwh",
                     "energy_observed_to_expected", "irradiation_expected_wh_m2",
                     "irradiation_observed_wh_m2", "irradiation_observed_to_expected",
                     "specific_yield_kwh_kwp", "expected_specific_yield_kwh_kwp",
                     "performance_ratio"])  # fmt: skip

    def blank(ratio: float | None) -> object:
        return "" if ratio is None else ratio

    def row(period: str, r: ReportRow) -> list[object]:
        e, i = r.energy, r.irradiation
        return [period, r.hours_present, r.hours_total, e.expected, e.observed,
                blank(e.observed_to_expected), i.expected, i.observed, blank(i.observed_to_expected),
                blank(r.specific_yield), blank(r.expected_specific_yield),
                blank(r.performance_ratio)]  # fmt: skip

    for bucket in page.items:
        writer.writerow(row(bucket.period, bucket))
    if page.next_cursor is None:
        writer.writerow(row("total", page.totals))
    return out.getvalue()


@settings(max_examples=300, deadline=None)
@given(ZONE, DAY, st.lists(st.tuples(st.integers(0, 23), FLOAT, FLOAT, FLOAT, FLOAT), max_size=30),
       st.one_of(st.none(), st.just("Y3Vyc29y")))  # fmt: skip
def test_data_text_is_the_models_text(zone_name, day, hours, next_cursor) -> None:
    zone = _zone(zone_name)
    walls, offsets = pages.day_clock(day, zone)
    rows = [(walls[h], offsets[h], ee, ei, oe, oi) for h, ee, ei, oe, oi in sorted(hours)]
    page = pages.DataRows(7, zone_name, zone, day, day, rows, next_cursor)
    model = page.model()
    assert page.json() == model.model_dump_json(by_alias=True)
    assert page.csv() == _old_data_csv(model)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    # as instants: Python never calls an hour of a DST fold equal to one of another zone (PEP 495)
    hours_utc = [item.hour.astimezone(UTC) for item in model.items]
    assert hours_utc == [midnight + h * pages.HOUR for h, *_ in sorted(hours)]
    assert all(item.hour.utcoffset() == item.hour.astimezone(zone).utcoffset() for item in model.items)


@settings(max_examples=300, deadline=None)
@given(ZONE, DAY, st.lists(st.tuples(st.integers(0, 23), FLOAT, FLOAT, FLOAT, FLOAT), max_size=30),
       st.one_of(st.none(), st.sampled_from([0.0, 1.0, 12.5]), st.floats(1e-3, 1e6)),
       st.tuples(FLOAT, FLOAT, FLOAT, FLOAT), st.one_of(st.none(), st.just("Y3Vyc29y")))  # fmt: skip
def test_report_text_is_the_models_text(zone_name, day, hours, capacity, totals, next_cursor) -> None:
    zone = _zone(zone_name)
    walls, offsets = pages.day_clock(day, zone)
    buckets = [
        (f"{walls[h]}{offsets[h].iso}", walls[h], offsets[h], 1, 1, *sums) for h, *sums in sorted(hours)
    ]
    total = pages.report_row(len(hours), 24, *totals, capacity)
    page = pages.ReportRows(7, zone_name, zone, day, day, "hour", capacity, buckets, total, next_cursor)
    model = page.model()
    assert page.json() == model.model_dump_json(by_alias=True)
    assert page.csv() == _old_report_csv(model)


def test_no_zone_changes_its_offset_twice_in_one_utc_day() -> None:
    """pages.day_clock (and reports._segments) take a UTC day whose first and last hours have the
    same offset to have it all day: true if no zone has two transitions in one UTC day. Checked
    on the tzdata installed (explicit transitions since 1970; later years follow each zone's
    POSIX rule, two changes a year months apart), through zoneinfo's pure-Python reader."""
    from zoneinfo import _zoneinfo, available_timezones

    twice = []
    for name in sorted(available_timezones()):
        starts = [t for t in _zoneinfo.ZoneInfo.no_cache(name)._trans_utc if t >= 0]
        twice += [(name, a) for a, b in itertools.pairwise(starts) if a // 86400 == b // 86400]
    assert twice == []
