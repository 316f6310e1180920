"""The read path's second stage: a page's rows, buckets and totals, from what the read stage found
(`rows.Stored`), values only: nothing here reaches the table or writes text.

/data and hour buckets are the stored hours of [begin, end), each day's rows zipped from its
packed values (NaN: no data; a row is built once, in C) beside its timestamps (`rows.day_clock`),
cut to the page. In UTC, day and month buckets come from the month summaries' days; in any other
zone the day items' hours are split where local days change (computed once per UTC day, per hour
only on a day whose offset changes). Sums are exact: math.fsum of the hours (or of the month
summaries' sums and their partials), rounded once (`rows.figures`).
"""

from __future__ import annotations

import math
from calendar import monthrange
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from itertools import islice
from typing import cast

from powerfactor.datapoints.rows import (
    Bucket,
    Column,
    DataRow,
    DayValues,
    Offset,
    Request,
    Stored,
    bucket_figures,
    day_clock,
    report_row,
    stamp,
)
from powerfactor.datapoints.schemas import ReportRow
from powerfactor.datapoints.sums import Sums
from powerfactor.runtime.clock import DAY, HOUR, hours_between, hours_of, midnight, utc_start


@dataclass(frozen=True, slots=True)
class Buckets:
    """A page of buckets, whether there are more, what they show (`rows.figures`), and the totals
    of the whole range."""

    items: list[Bucket]
    more: bool
    figures: list[Column]
    totals: ReportRow


def data_rows(request: Request, stored: Stored) -> tuple[list[DataRow], bool]:
    """A page of /data's rows, and whether there are more."""
    return _page(_rows(stored.days, request.begin, request.end, request.zone, _data_stamps), request.limit)


def report(request: Request, stored: Stored) -> Buckets:
    """A page of a report's buckets and the range's totals."""
    granularity, zone, first, end = request.granularity, request.zone, request.first, request.end
    if granularity == "hour":
        totals = stored.totals  # read beside the hours
        items, more = _page(_rows(stored.days, request.begin, end, zone, _bucket_stamps), request.limit)
    elif zone is UTC:
        days = stored.day_sums
        totals = Sums.of(days.values())
        if granularity == "day":
            items, more = _page(_day_buckets(days, request.after), request.limit)
        else:
            months = _month_buckets(days, request.start, request.last, request.after)
            items, more = _page(months, request.limit)
    else:
        columns = _local_columns(stored.days, first, end, zone)
        totals = _fsums(columns.values())
        buckets = _local_buckets(columns, granularity == "day", first, end, zone, request.after)
        items, more = _page(buckets, request.limit)
    total_row = _row(totals, hours_between(first, end), request.capacity)
    return Buckets(items, more, bucket_figures(items, request.capacity), total_row)


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
    days: Iterable[DayValues], begin: datetime, end: datetime, zone: tzinfo, stamps: _Stamps
) -> Iterator[tuple]:
    """The stored hours of [begin, end) (UTC hour starts) in these days, in time order, as rows of
    their `stamps` in the zone and their four values."""
    first_day, last_day = begin.date(), (end - HOUR).date()
    for day, values in days:
        lo, hi = (0, 24) if first_day < day < last_day else hours_of(day, begin, end)
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


def _page[T](rows: Iterable[T], limit: int) -> tuple[list[T], bool]:
    """The first `limit` rows, and whether there are more."""
    page = list(islice(rows, limit + 1))
    return page[:limit], len(page) > limit


def _row(sums: Sums, hours_total: int, capacity: float | None) -> ReportRow:
    return report_row(
        sums.hours, hours_total, sums.expected_energy, sums.expected_irradiation, sums.observed_energy,
        sums.observed_irradiation, capacity,
    )  # fmt: skip


def _bucket(period: str, start: datetime, sums: Sums, hours_total: int) -> Bucket:
    wall, off = stamp(start)
    return (period, wall, off, sums.hours, hours_total, sums.expected_energy, sums.expected_irradiation,
            sums.observed_energy, sums.observed_irradiation)  # fmt: skip


def _day_buckets(days: dict[date, Sums], after: str | None) -> Iterable[Bucket]:
    for day in sorted(days):
        period = day.isoformat()
        if after is None or period > after:
            yield _bucket(period, midnight(day), days[day], 24)


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
        yield _bucket(period, midnight(month), Sums.of(parts), ((final - first).days + 1) * 24)


# Columns of a local day: expected energy, expected irradiation, observed energy, observed
# irradiation, each the list of its present hours' values.
_Columns = tuple[list[float], list[float], list[float], list[float]]


def _segments(day: date, lo: int, hi: int, zone: tzinfo) -> Iterator[tuple[int, int, date]]:
    """Hours [lo, hi) of a UTC day split into runs of one local day: (from, to, local day)."""
    start = midnight(day)
    offset = cast(timedelta, start.astimezone(zone).utcoffset())  # an aware datetime's
    if offset == (start + 23 * HOUR).astimezone(zone).utcoffset():
        local = start + offset  # the local wall time of hour 0, as a naive-like UTC datetime
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        split = -(-(86400 - seconds) // 3600)  # the first hour of the next local day
        if lo < min(hi, split):
            yield lo, min(hi, split), local.date()
        if max(lo, split) < hi:
            yield max(lo, split), hi, local.date() + DAY
        return
    run_start, run_day = lo, None
    for h in range(lo, hi):  # a day whose offset changes: hour by hour
        local_day = (start + h * HOUR).astimezone(zone).date()
        if run_day is not None and local_day != run_day:
            yield run_start, h, run_day
            run_start = h
        run_day = local_day
    if run_day is not None:
        yield run_start, hi, run_day


def _local_columns(
    stored: Iterable[DayValues], first: datetime, end: datetime, zone: tzinfo
) -> dict[date, _Columns]:
    """The stored hours of [first, end) (UTC hour starts), grouped by the zone's local day."""
    days: dict[date, _Columns] = {}
    last_day = (end - HOUR).date()
    for day, values in stored:
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
    by_day: bool,
    first: datetime,
    end: datetime,
    zone: tzinfo,
    after: str | None,
) -> Iterator[Bucket]:
    """Day (`by_day`) or month buckets of a zone other than UTC, from `_local_columns`."""
    groups: dict[date, list[date]] = {}
    for day in sorted(columns):
        groups.setdefault(day if by_day else day.replace(day=1), []).append(day)
    for key, members in groups.items():
        if by_day:
            period, following = key.isoformat(), key + DAY
        else:
            period, following = f"{key:%Y-%m}", key + timedelta(days=monthrange(key.year, key.month)[1])
        if after is not None and period <= after:
            continue
        begin = utc_start(key, zone)
        total = hours_between(max(begin, first), min(utc_start(following, zone), end))
        sums = _fsums(columns[d] for d in members)
        yield _bucket(period, begin.astimezone(zone), sums, total)
