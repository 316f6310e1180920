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
and raw data read day items, a page at a time (an hour report's totals, from the month
summaries and the partial days at either end, in a thread beside them), and are written as text
from those rows (powerfactor/datapoints/render.py). Sums are exact: math.fsum of the hours (or of
the month summaries' sums and their partials), rounded once. Large results are paginated with a
cursor, so no response nears API Gateway's 6 MB limit.

KPIs (per bucket and for the totals) when the plant has `capacity_kwp` (P0, kWp), else null:
specific yield E/P0 (kWh/kWp, observed and expected energy); performance ratio per IEC 61724-1,
(E/P0) / (H/G_stc) with E the observed energy (kWh), H the observed in-plane irradiation in
kWh/m² (the service's Wh/m² per hour / 1000) and G_stc = 1 kW/m²; null where H is 0.
"""

from __future__ import annotations

import contextvars
import functools
import math
from calendar import monthrange
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, tzinfo
from itertools import islice
from typing import cast, overload
from zoneinfo import ZoneInfo

from powerfactor.access.principal import Principal
from powerfactor.datapoints import store as datapoints
from powerfactor.datapoints.render import (
    HOUR,
    Bucket,
    DataRow,
    DataRows,
    Offset,
    ReportRows,
    day_clock,
    report_row,
    stamp,
)
from powerfactor.datapoints.schemas import DataPage, Granularity, ReportPage, ReportRow
from powerfactor.datapoints.store import Sums
from powerfactor.plants.logic import get_plant
from powerfactor.plants.schemas import Plant, iana_zone
from powerfactor.runtime import cursors
from powerfactor.runtime.errors import InvalidCursor, InvalidRange, NoTimeZone

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000  # 10,000 hours of data is about 1.6 MB of JSON
_HOUR_CURSOR = "%Y-%m-%dT%H:00Z"  # an hour report's cursor: the UTC start of its last bucket


@overload
def check_tz(value: str) -> str: ...
@overload
def check_tz(value: None) -> None: ...
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


def _load(
    principal: Principal, plant_id: int, start: date, last: date, tz: str | None
) -> tuple[Plant, str, tzinfo]:
    if start > last:
        raise InvalidRange("`from` is after `to`")
    plant = get_plant(principal, plant_id)  # PlantNotFound for an unknown plant, or one not the caller's
    return plant, *_zone(tz, plant)


def _parse_after(after: str, pattern: str) -> datetime:
    """The position a cursor holds; InvalidCursor if it is not one this API wrote."""
    try:
        return datetime.strptime(after, pattern)
    except ValueError:
        raise InvalidCursor() from None


def _instant_after(after: datetime, first: datetime, end: datetime) -> datetime:
    """A data or hour cursor's position as a UTC instant, if it lies in [first, end), the UTC hours
    of the request's days (a cursor this API wrote always does); InvalidCursor else.

    Cursors are not secret, so one can be forged with any position: its wall-clock day is checked
    first, by comparison alone, because converting a time at the calendar's edge (year 1 or 9999
    with an offset) overflows (OverflowError) before any later check could refuse it.
    """
    if after.tzinfo is None or not (first.date() - _DAY * 2 <= after.date() <= end.date() + _DAY):
        raise InvalidCursor()
    instant = after.astimezone(UTC)
    if not first <= instant < end:
        raise InvalidCursor()
    return instant


def _period_after(after: str, granularity: Granularity, start: date, last: date) -> str:
    """A day or month report cursor's period (its one spelling), if it lies in [start, last];
    InvalidCursor else (see _instant_after)."""
    pattern = "%Y-%m-%d" if granularity == "day" else "%Y-%m"
    day = _parse_after(after, pattern).date()
    lowest = start if granularity == "day" else start.replace(day=1)
    if not lowest <= day <= last:
        raise InvalidCursor()
    return day.isoformat() if granularity == "day" else f"{day:%Y-%m}"


_DAY = timedelta(days=1)


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


# The columns a day's rows start with, for its hours [lo, hi): /data's (wall time, offset) or
# an hour bucket's (period, wall time, offset, hours present, hours spanned).
_Stamps = Callable[[date, tzinfo, int, int], tuple[Sequence[object], ...]]
_ONES = (1,) * 24
_UTC_PERIODS = [f"T{h:02d}:00Z" for h in range(24)]


def _data_stamps(day: date, zone: tzinfo, lo: int, hi: int) -> tuple[list[str], list[Offset]]:
    walls, offsets = day_clock(day, zone)
    return walls[lo:hi], offsets[lo:hi]


def _bucket_stamps(day: date, zone: tzinfo, lo: int, hi: int) -> tuple[Sequence[object], ...]:
    """An hour bucket's period is `YYYY-MM-DDTHH:00Z` in UTC, else the local start to the minute
    with its offset; each holds 1 of 1 hours."""
    walls, offsets = _data_stamps(day, zone, lo, hi)
    if zone is UTC:
        prefix = day.isoformat()
        periods = [prefix + tail for tail in _UTC_PERIODS[lo:hi]]
    else:
        periods = [wall[:16] + off.iso for wall, off in zip(walls, offsets, strict=True)]
    return periods, walls, offsets, _ONES[: hi - lo], _ONES[: hi - lo]


def _rows(
    plant_id: int,
    first: datetime,
    end: datetime,
    zone: tzinfo,
    after: datetime | None,
    limit: int,
    stamps: _Stamps,
) -> Iterator[tuple]:
    """The stored hours of [first, end) (UTC hour starts) after `after` (if any), in time order,
    as rows of their `stamps` in the zone and their four values: one Query of the day items, each
    day's rows zipped from its packed values (NaN: no data; a row is built once, in C). The
    Query's calls ask for the days a page of `limit` hours needs if they are whole (and one
    more), and more calls follow only where days lack hours."""
    begin, stop = first.date(), _day_after(end)
    if after is not None:
        begin = min(max(after.astimezone(UTC).date(), begin), stop)  # inside the range
    for day, values in datapoints.read_day_values(plant_id, begin, stop, limit // 24 + 3):
        midnight = _midnight(day)
        lo, hi = max(0, (first - midnight) // HOUR), min(24, (end - midnight) // HOUR)
        if after is not None:
            lo = max(lo, (after - midnight) // HOUR + 1)
        if lo < hi:
            columns = stamps(day, zone, lo, hi)
            part = values[4 * lo : 4 * hi]
            expected = part[0::4]
            rows = zip(*columns, expected, part[1::4], part[2::4], part[3::4], strict=True)
            present = sum(expected)  # NaN if an hour is missing
            if present == present:  # every hour there (the usual day): the rows as they are
                yield from rows
            else:
                at = len(columns)  # the expected energy's place in a row
                yield from (row for row in rows if row[at] == row[at])


def _hours(
    plant_id: int, first: datetime, end: datetime, zone: tzinfo, after: datetime | None, limit: int
) -> Iterator[DataRow]:
    """/data's rows of the stored hours (`_rows`)."""
    return _rows(plant_id, first, end, zone, after, limit, _data_stamps)


def _page[T](rows: Iterable[T], limit: int) -> tuple[list[T], bool]:
    """The first `limit` rows, and whether there are more."""
    page = list(islice(rows, limit + 1))
    return page[:limit], len(page) > limit


def read_data(
    principal: Principal,
    plant_id: int,
    start: date,
    last: date,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    tz: str | None = None,
) -> DataRows:
    """Stored hours of [start, last] (whole days of the zone), `limit` per page."""
    _, name, zone = _load(principal, plant_id, start, last, tz)
    request = _request(plant_id, start, last, name)
    first, end = _hour_range(start, last, zone)
    after = None
    if cursor:
        position = _parse_after(
            cursors.decode(cursor, "data", request, principal.scope_key), "%Y-%m-%dT%H:%M:%S%z"
        )
        after = _instant_after(position, first, end)
    rows, more = _page(_hours(plant_id, first, end, zone, after, limit), limit)
    next_cursor = (
        cursors.encode("data", rows[-1][0] + rows[-1][1].iso, request, principal.scope_key) if more else None
    )
    return DataRows(plant_id, name, zone, start, last, rows, next_cursor)


def data_page(
    principal: Principal,
    plant_id: int,
    start: date,
    last: date,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    tz: str | None = None,
) -> DataPage:
    """`read_data` as the page model."""
    return read_data(principal, plant_id, start, last, limit, cursor, tz).model()


def _row(sums: Sums, hours_total: int, capacity: float | None) -> ReportRow:
    return report_row(
        sums.hours, hours_total, sums.expected_energy, sums.expected_irradiation, sums.observed_energy,
        sums.observed_irradiation, capacity,
    )  # fmt: skip


def _bucket(period: str, start: datetime, sums: Sums, hours_total: int) -> Bucket:
    wall, off = stamp(start)
    return (period, wall, off, sums.hours, hours_total, sums.expected_energy, sums.expected_irradiation,
            sums.observed_energy, sums.observed_irradiation)  # fmt: skip


def _hour_buckets(
    plant_id: int, first: datetime, end: datetime, zone: tzinfo, after: str | None, limit: int
) -> tuple[list[Bucket], bool]:
    """A page of hour buckets (see `_page`): one per stored hour (`_bucket_stamps`)."""
    after_hour = None
    if after is not None:
        after_hour = _instant_after(_parse_after(after, _HOUR_CURSOR).replace(tzinfo=UTC), first, end)
    return _page(_rows(plant_id, first, end, zone, after_hour, limit, _bucket_stamps), limit)


def _day_buckets(days: dict[date, Sums], after: str | None) -> Iterable[Bucket]:
    for day in sorted(days):
        period = day.isoformat()
        if after is None or period > after:
            yield _bucket(period, _midnight(day), days[day], 24)


def _month_buckets(days: dict[date, Sums], start: date, last: date, after: str | None) -> Iterable[Bucket]:
    months: dict[date, list[Sums]] = {}
    for day in sorted(days):
        months.setdefault(day.replace(day=1), []).append(days[day])
    for month, parts in months.items():
        period = f"{month:%Y-%m}"
        if after is not None and period <= after:
            continue
        first = max(month, start)
        final = min(month.replace(day=monthrange(month.year, month.month)[1]), last)
        yield _bucket(period, _midnight(month), Sums.of(parts), ((final - first).days + 1) * 24)


# Columns of a local day: expected energy, expected irradiation, observed energy, observed
# irradiation, each the list of its present hours' values.
_Columns = tuple[list[float], list[float], list[float], list[float]]


def _segments(day: date, lo: int, hi: int, zone: tzinfo) -> Iterator[tuple[int, int, date]]:
    """Hours [lo, hi) of a UTC day split into runs of one local day: (from, to, local day)."""
    midnight = _midnight(day)
    offset = cast(timedelta, midnight.astimezone(zone).utcoffset())  # an aware datetime's
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
    ee, ei, oe, oi = (math.fsum(value for c in columns for value in c[index]) for index in range(4))
    return Sums(sum(len(c[0]) for c in columns), ee, ei, oe, oi)


def _local_buckets(
    columns: dict[date, _Columns],
    granularity: Granularity,
    first: datetime,
    end: datetime,
    zone: tzinfo,
    after: str | None,
) -> Iterator[Bucket]:
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
        yield _bucket(period, begin.astimezone(zone), sums, total)


@functools.cache
def _helpers() -> ThreadPoolExecutor:
    """Threads that run a read beside the request's own, started once per process."""
    return ThreadPoolExecutor(2, thread_name_prefix="report-read")


def _beside[T](read: Callable[..., T], *args: object) -> Future[T]:
    """Start `read(*args)` in another thread, in this request's context (its storage deadline):
    an hour report's totals (the month summaries of the whole range, ~120 items for ten years,
    on every page) are read while the page's hours are; the page waits for the slower of the two."""
    return _helpers().submit(contextvars.copy_context().run, read, *args)


def _range_totals(plant_id: int, first: datetime, end: datetime) -> Sums:
    """Exact sums of the hours in [first, end): whole UTC days from the month summaries, the
    partial days at either end from their day items."""
    inner_start = first.date() if first.hour == 0 else first.date() + timedelta(days=1)
    inner_end = end.date()  # exclusive: the day `end` falls in is partial (or outside)
    parts = [datapoints.read_range_sums(plant_id, inner_start, inner_end)]
    edges = sorted({d.date() for d in (first, end) if d.hour != 0})
    points = [
        p for day in edges for p in datapoints.read_hours(plant_id, day, day + timedelta(days=1))
        if first <= p.hour < end
    ]  # fmt: skip
    if points:
        parts.append(datapoints.exact_sums(points))
    return Sums.of(parts)


def read_report(
    principal: Principal,
    plant_id: int,
    start: date,
    last: date,
    granularity: Granularity = "day",
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    tz: str | None = None,
) -> ReportRows:
    """Sums of [start, last] (whole days of the zone) by hour, day or month, `limit` buckets per page."""
    plant, name, zone = _load(principal, plant_id, start, last, tz)
    capacity = plant.capacity_kwp
    request = _request(plant_id, start, last, name)
    after = cursors.decode(cursor, granularity, request, principal.scope_key) if cursor else None
    first, end = _hour_range(start, last, zone)
    if after is not None and granularity != "hour":  # checked, in the one spelling periods have
        after = _period_after(after, granularity, start, last)
    hours_total = _hours_between(first, end)
    if granularity == "hour":
        totals_read = _beside(_range_totals, plant_id, first, end)  # its Query beside the hours'
        items, more = _hour_buckets(plant_id, first, end, zone, after, limit)
        totals = totals_read.result()
    elif zone is UTC:
        days = datapoints.read_day_sums(plant_id, start, last + timedelta(days=1))
        totals = Sums.of(days.values())
        if granularity == "day":
            items, more = _page(_day_buckets(days, after), limit)
        else:
            items, more = _page(_month_buckets(days, start, last, after), limit)
    else:
        columns = _local_columns(plant_id, first, end, zone)
        totals = _fsums(columns.values())
        items, more = _page(_local_buckets(columns, granularity, first, end, zone, after), limit)
    next_cursor = None
    if more:
        period, wall, off = items[-1][:3]
        if granularity == "hour":  # the UTC start of the last bucket
            period = datetime.fromisoformat(wall + off.iso).astimezone(UTC).strftime(_HOUR_CURSOR)
        next_cursor = cursors.encode(granularity, period, request, principal.scope_key)
    totals_row = _row(totals, hours_total, capacity)
    return ReportRows(
        plant_id, name, zone, start, last, granularity, capacity, items, totals_row, next_cursor
    )


def report(
    principal: Principal,
    plant_id: int,
    start: date,
    last: date,
    granularity: Granularity = "day",
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    tz: str | None = None,
) -> ReportPage:
    """`read_report` as the page model."""
    return read_report(principal, plant_id, start, last, granularity, limit, cursor, tz).model()
