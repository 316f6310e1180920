"""The read side: a plant's stored hours, and reports summed by hour, day or month.

Days, buckets and timestamps are those of a time zone, `tz`: `UTC`, `local` (the plant's
`timezone`) or an IANA name; by default the plant's time zone if it has one, else UTC. `from`
and `to` are whole days of that zone, both inclusive. An hour belongs to the local day, month
and hour its start falls in, so a day with a DST change has 23 or 25 hours (`hours_total`), the
repeated hour appears twice with its two offsets, and in a half-hour zone (Asia/Kolkata) hours
start at :30 local time.

Storage stays UTC (one item per UTC day, month summaries). In UTC, day and month reports read
the month summaries (120 items for ten years); in any other zone they read the day items that
cover the range, one Query of their packed hours, and split each UTC day where local days
change (computed once per UTC day, per hour only on a day whose offset changes). Hour reports
and raw data read day items, a page at a time. Sums are exact: math.fsum of the hours (or of
the month summaries' sums and their partials), rounded once. Large results are paginated with a
cursor, so no response nears API Gateway's 6 MB limit.

KPIs (per bucket and for the totals) when the plant has `capacity_kwp` (P0, kWp), else null:
specific yield E/P0 (kWh/kWp, observed and expected energy); performance ratio per IEC 61724-1,
(E/P0) / (H/G_stc) with E the observed energy (kWh), H the observed in-plane irradiation in
kWh/m² (the service's Wh/m² per hour / 1000) and G_stc = 1 kW/m²; null where H is 0.
"""

from __future__ import annotations

import csv
import io
import math
from calendar import monthrange
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from powerfactor import cursors
from powerfactor.errors import InvalidCursor, InvalidRange, NoTimeZone
from powerfactor.models import (
    DataItem,
    DataPage,
    Granularity,
    Measure,
    Plant,
    Reading,
    ReportBucket,
    ReportPage,
    ReportRow,
    iana_zone,
)
from powerfactor.plants import get_plant
from powerfactor.storage import datapoints
from powerfactor.storage.datapoints import Sums

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000  # 10,000 hours of data is about 1.6 MB of JSON
DECIMALS = 6
HOUR = timedelta(hours=1)
_HOUR_CURSOR = "%Y-%m-%dT%H:00Z"  # an hour report's cursor: the UTC start of its last bucket


def check_tz(value: str | None) -> str | None:
    """A `tz` parameter: `UTC`, `local` or an IANA name (ValueError else)."""
    if value is None or value in ("UTC", "local"):
        return value
    return iana_zone(value)


def _zone(tz: str | None, plant: Plant) -> tuple[str, tzinfo]:
    """The name and tzinfo `tz` means for this plant (datetime.UTC for `UTC`: the fast path)."""
    if tz == "local" and plant.timezone is None:
        raise NoTimeZone(f"plant {plant.id} has no time zone; set one (PATCH) or pass tz=UTC or an IANA name")
    name = (plant.timezone or "UTC") if tz in (None, "local") else check_tz(tz)
    return name, (UTC if name == "UTC" else ZoneInfo(name))


def _load(plant_id: int, start: date, last: date, tz: str | None) -> tuple[Plant, str, tzinfo]:
    if start > last:
        raise InvalidRange("`from` is after `to`")
    plant = get_plant(plant_id)  # PlantNotFound for an unknown plant
    return plant, *_zone(tz, plant)


def _parse_after(after: str, pattern: str) -> datetime:
    """The position a cursor holds; InvalidCursor if it is not one this API wrote."""
    try:
        return datetime.strptime(after, pattern)
    except ValueError:
        raise InvalidCursor() from None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _utc_start(day: date, zone: tzinfo) -> datetime:
    """The instant the zone's day begins (a midnight skipped by a DST change: the change)."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _hour_ceil(instant: datetime) -> datetime:
    """The first UTC hour start at or after `instant`."""
    floor = instant.replace(minute=0, second=0, microsecond=0)
    return floor if floor == instant else floor + HOUR


def _hours_between(a: datetime, b: datetime) -> int:
    """How many UTC hours start in [a, b)."""
    return max(0, int((_hour_ceil(b) - _hour_ceil(a)) / HOUR))


def _hour_range(start: date, last: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """[first, end): the UTC hour starts of the zone's days [start, last]."""
    return _hour_ceil(_utc_start(start, zone)), _hour_ceil(_utc_start(last + timedelta(days=1), zone))


def _day_after(end: datetime) -> date:
    """The exclusive end, in UTC days, of the UTC days that hold hours before `end`."""
    return (end - HOUR).date() + timedelta(days=1)


def _request(plant_id: int, start: date, last: date, zone: str) -> str:
    """What a data or report cursor is bound to."""
    base = f"{plant_id}/{start}/{last}"
    return base if zone == "UTC" else f"{base}/{zone}"


def _stamp(hour: datetime, zone: tzinfo) -> datetime:
    return hour if zone is UTC else hour.astimezone(zone)


def data_page(
    plant_id: int,
    start: date,
    last: date,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    tz: str | None = None,
) -> DataPage:
    """Stored hours of [start, last] (whole days of the zone), `limit` per page."""
    _, name, zone = _load(plant_id, start, last, tz)
    request = _request(plant_id, start, last, name)
    after = cursors.decode(cursor, "data", request) if cursor else None
    first, end = _hour_range(start, last, zone)
    begin, stop = first.date(), _day_after(end)
    if after is not None:
        after_hour = _parse_after(after, "%Y-%m-%dT%H:%M:%S%z")
        begin = min(max(after_hour.astimezone(UTC).date(), begin), stop)  # inside the range
    items: list[DataItem] = []
    more = False
    for point in datapoints.read_hours(plant_id, begin, stop):
        if point.hour < first or point.hour >= end or (after is not None and point.hour <= after_hour):
            continue
        if len(items) == limit:
            more = True
            break
        items.append(
            DataItem(
                hour=_stamp(point.hour, zone),
                expected=Reading(energy=point.expected_energy, irradiation=point.expected_irradiation),
                observed=Reading(energy=point.observed_energy, irradiation=point.observed_irradiation),
            )
        )
    next_cursor = cursors.encode("data", items[-1].hour.isoformat(), request) if more else None
    return DataPage(plant_id=plant_id, tz=name, from_=start, to=last, items=items, next_cursor=next_cursor)


def _measure(expected: float, observed: float) -> Measure:
    return Measure(
        expected=round(expected, DECIMALS),
        observed=round(observed, DECIMALS),
        observed_to_expected=round(observed / expected, DECIMALS) if expected else None,
    )


def _kpis(sums: Sums, capacity: float | None) -> dict[str, float | None]:
    """Specific yields (kWh/kWp) and the IEC 61724-1 performance ratio; null without capacity."""
    if not capacity:
        return {"specific_yield": None, "expected_specific_yield": None, "performance_ratio": None}
    final_yield = sums.observed_energy / capacity
    reference_yield = sums.observed_irradiation / 1000  # kWh/m² over G_stc = 1 kW/m²: hours
    return {
        "specific_yield": round(final_yield, DECIMALS),
        "expected_specific_yield": round(sums.expected_energy / capacity, DECIMALS),
        "performance_ratio": round(final_yield / reference_yield, DECIMALS) if reference_yield > 0 else None,
    }


def _fields(sums: Sums, hours_total: int, capacity: float | None) -> dict[str, object]:
    return {
        "hours_present": sums.hours,
        "hours_total": hours_total,
        "energy": _measure(sums.expected_energy, sums.observed_energy),
        "irradiation": _measure(sums.expected_irradiation, sums.observed_irradiation),
        **_kpis(sums, capacity),
    }


def _row(sums: Sums, hours_total: int, capacity: float | None) -> ReportRow:
    return ReportRow(**_fields(sums, hours_total, capacity))


def _bucket(
    period: str, start: datetime, sums: Sums, hours_total: int, capacity: float | None
) -> ReportBucket:
    return ReportBucket(period=period, start=start, **_fields(sums, hours_total, capacity))


def _hour_buckets(
    plant_id: int, first: datetime, end: datetime, zone: tzinfo, after: str | None, capacity: float | None
) -> Iterable[ReportBucket]:
    begin, stop = first.date(), _day_after(end)
    if after:
        begin = min(max(date.fromisoformat(after[:10]), begin), stop)
    for p in datapoints.read_hours(plant_id, begin, stop):
        if p.hour < first or p.hour >= end:
            continue
        if after is not None and p.hour.strftime(_HOUR_CURSOR) <= after:
            continue
        if zone is UTC:
            period, start = p.hour.strftime(_HOUR_CURSOR), p.hour
        else:
            start = p.hour.astimezone(zone)
            period = start.isoformat(timespec="minutes")
        sums = Sums(1, p.expected_energy, p.expected_irradiation, p.observed_energy, p.observed_irradiation)
        yield _bucket(period, start, sums, 1, capacity)


def _day_buckets(days: dict[date, Sums], after: str | None, capacity: float | None) -> Iterable[ReportBucket]:
    for day in sorted(days):
        period = day.isoformat()
        if after is None or period > after:
            yield _bucket(period, _midnight(day), days[day], 24, capacity)


def _month_buckets(
    days: dict[date, Sums], start: date, last: date, after: str | None, capacity: float | None
) -> Iterable[ReportBucket]:
    months: dict[date, list[Sums]] = {}
    for day in sorted(days):
        months.setdefault(day.replace(day=1), []).append(days[day])
    for month, parts in months.items():
        period = f"{month:%Y-%m}"
        if after is not None and period <= after:
            continue
        first = max(month, start)
        final = min(month.replace(day=monthrange(month.year, month.month)[1]), last)
        yield _bucket(period, _midnight(month), Sums.of(parts), ((final - first).days + 1) * 24, capacity)


# Columns of a local day: expected energy, expected irradiation, observed energy, observed
# irradiation, each the list of its present hours' values.
_Columns = tuple[list[float], list[float], list[float], list[float]]


def _segments(day: date, lo: int, hi: int, zone: tzinfo) -> Iterator[tuple[int, int, date]]:
    """Hours [lo, hi) of a UTC day split into runs of one local day: (from, to, local day)."""
    midnight = _midnight(day)
    offset = midnight.astimezone(zone).utcoffset()
    if offset == (midnight + 23 * HOUR).astimezone(zone).utcoffset():
        local = midnight + offset  # the local wall time of hour 0, as a naive-like UTC datetime
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        split = -(-(86400 - seconds) // 3600)  # the first hour of the next local day
        if lo < min(hi, split):
            yield lo, min(hi, split), local.date()
        if max(lo, split) < hi:
            yield max(lo, split), hi, local.date() + timedelta(days=1)
        return
    run_start, run_day = lo, None
    for h in range(lo, hi):  # a day whose offset changes: hour by hour
        local_day = (midnight + h * HOUR).astimezone(zone).date()
        if run_day is not None and local_day != run_day:
            yield run_start, h, run_day
            run_start = h
        run_day = local_day
    if run_day is not None:
        yield run_start, hi, run_day


def _local_columns(plant_id: int, first: datetime, end: datetime, zone: tzinfo) -> dict[date, _Columns]:
    """The stored hours of [first, end) (UTC hour starts), grouped by the zone's local day."""
    days: dict[date, _Columns] = {}
    last_day = (end - HOUR).date()
    for day, values in datapoints.read_day_values(plant_id, first.date(), _day_after(end)):
        lo = first.hour if day == first.date() else 0
        hi = (end - HOUR).hour + 1 if day == last_day else 24
        for a, b, local_day in _segments(day, lo, hi, zone):
            part = values[4 * a : 4 * b]
            columns = days.get(local_day)
            if columns is None:
                columns = days[local_day] = ([], [], [], [])
            for index in range(4):
                columns[index].extend(x for x in part[index::4] if x == x)  # NaN: no data
    return {day: columns for day, columns in days.items() if columns[0]}


def _fsums(columns: Iterable[_Columns]) -> Sums:
    columns = list(columns)
    return Sums(
        sum(len(c[0]) for c in columns),
        *(math.fsum(value for c in columns for value in c[index]) for index in range(4)),
    )


def _local_buckets(
    columns: dict[date, _Columns],
    granularity: Granularity,
    first: datetime,
    end: datetime,
    zone: tzinfo,
    after: str | None,
    capacity: float | None,
) -> Iterator[ReportBucket]:
    """Day or month buckets of a non-UTC zone, from `_local_columns`."""
    groups: dict[date, list[date]] = {}
    for day in sorted(columns):
        groups.setdefault(day if granularity == "day" else day.replace(day=1), []).append(day)
    for key, members in groups.items():
        if granularity == "day":
            period, following = key.isoformat(), key + timedelta(days=1)
        else:
            period, following = f"{key:%Y-%m}", key + timedelta(days=monthrange(key.year, key.month)[1])
        if after is not None and period <= after:
            continue
        begin = _utc_start(key, zone)
        total = _hours_between(max(begin, first), min(_utc_start(following, zone), end))
        sums = _fsums(columns[d] for d in members)
        yield _bucket(period, begin.astimezone(zone), sums, total, capacity)


def _range_totals(plant_id: int, first: datetime, end: datetime) -> Sums:
    """Exact sums of the hours in [first, end): whole UTC days from the month summaries, the
    partial days at either end from their day items."""
    inner_start = first.date() if first.hour == 0 else first.date() + timedelta(days=1)
    inner_end = end.date()  # exclusive: the day `end` falls in is partial (or outside)
    parts = list(datapoints.read_day_sums(plant_id, inner_start, inner_end).values())
    edges = sorted({d.date() for d in (first, end) if d.hour != 0})
    points = [
        p for day in edges for p in datapoints.read_hours(plant_id, day, day + timedelta(days=1))
        if first <= p.hour < end
    ]  # fmt: skip
    if points:
        parts.append(datapoints.exact_sums(points))
    return Sums.of(parts)


def report(
    plant_id: int,
    start: date,
    last: date,
    granularity: Granularity = "day",
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    tz: str | None = None,
) -> ReportPage:
    """Sums of [start, last] (whole days of the zone) by hour, day or month, `limit` buckets per page."""
    plant, name, zone = _load(plant_id, start, last, tz)
    capacity = plant.capacity_kwp
    request = _request(plant_id, start, last, name)
    after = cursors.decode(cursor, granularity, request) if cursor else None
    if after is not None:  # in the one spelling periods have (strptime also takes "2024-1-5T3:00Z")
        pattern = {"hour": _HOUR_CURSOR, "day": "%Y-%m-%d", "month": "%Y-%m"}[granularity]
        after = _parse_after(after, pattern).strftime(pattern)
    first, end = _hour_range(start, last, zone)
    hours_total = _hours_between(first, end)
    if zone is UTC:
        days = datapoints.read_day_sums(plant_id, start, last + timedelta(days=1))
        totals = Sums.of(days.values())
        if granularity == "hour":
            buckets = _hour_buckets(plant_id, first, end, zone, after, capacity)
        elif granularity == "day":
            buckets = _day_buckets(days, after, capacity)
        else:
            buckets = _month_buckets(days, start, last, after, capacity)
    elif granularity == "hour":
        totals = _range_totals(plant_id, first, end)
        buckets = _hour_buckets(plant_id, first, end, zone, after, capacity)
    else:
        columns = _local_columns(plant_id, first, end, zone)
        totals = _fsums(columns.values())
        buckets = _local_buckets(columns, granularity, first, end, zone, after, capacity)
    items: list[ReportBucket] = []
    more = False
    for bucket in buckets:
        if len(items) == limit:
            more = True
            break
        items.append(bucket)
    next_cursor = None
    if more:
        position = items[-1].period
        if granularity == "hour":
            position = items[-1].start.astimezone(UTC).strftime(_HOUR_CURSOR)
        next_cursor = cursors.encode(granularity, position, request)
    return ReportPage(
        plant_id=plant_id, tz=name, from_=start, to=last, granularity=granularity, items=items,
        totals=_row(totals, hours_total, capacity), next_cursor=next_cursor,
    )  # fmt: skip


def data_csv(page: DataPage) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["datetime", "expected_energy_kwh", "expected_irradiation_wh_m2",
                     "observed_energy_kwh", "observed_irradiation_wh_m2"])  # fmt: skip
    for item in page.items:
        writer.writerow([_iso(item.hour), repr(item.expected.energy),
                         repr(item.expected.irradiation), repr(item.observed.energy),
                         repr(item.observed.irradiation)])  # fmt: skip
    return out.getvalue()


def report_csv(page: ReportPage) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["period", "hours_present", "hours_total", "energy_expected_kwh", "energy_observed_kwh",
                     "energy_observed_to_expected", "irradiation_expected_wh_m2",
                     "irradiation_observed_wh_m2", "irradiation_observed_to_expected",
                     "specific_yield_kwh_kwp", "expected_specific_yield_kwh_kwp",
                     "performance_ratio"])  # fmt: skip

    def row(period: str, r: ReportRow) -> list[object]:
        e, i = r.energy, r.irradiation
        return [period, r.hours_present, r.hours_total, e.expected, e.observed,
                _blank(e.observed_to_expected), i.expected, i.observed, _blank(i.observed_to_expected),
                _blank(r.specific_yield), _blank(r.expected_specific_yield),
                _blank(r.performance_ratio)]  # fmt: skip

    for bucket in page.items:
        writer.writerow(row(bucket.period, bucket))
    if page.next_cursor is None:
        writer.writerow(row("total", page.totals))
    return out.getvalue()


def _blank(ratio: float | None) -> object:
    return "" if ratio is None else ratio


def _iso(instant: datetime) -> str:
    """A timestamp with its offset; `Z` in UTC, as the original wrote it."""
    if instant.tzinfo is UTC:
        return instant.strftime("%Y-%m-%dT%H:%M:%SZ")
    return instant.isoformat()
