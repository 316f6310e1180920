"""What the read path's stages hand on: a page's request (`Request`), what the read stage found for
it (`Stored`), and what compute makes of that for render: a /data row, a report bucket, the
figures a bucket shows of its sums, and how a row's timestamp is written.

The stages run once each, in this order (`reports` runs them): read (`read.py`, the only one that
reaches the table) -> compute (`compute.py`, values only) -> render (`render.py`, text only).
Rows are tuples, not models: a year of hours is 8,760 of them, and a pydantic model per row cost
several times the read itself (bench/README.md). Timestamps are text from the start, formatted
once per UTC day (`day_clock`) instead of once per hour: render only lays the text out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from itertools import repeat
from operator import itemgetter, lt, truediv

import pydantic_core

from powerfactor.datapoints.schemas import Granularity, Measure, ReportRow
from powerfactor.datapoints.sums import Sums
from powerfactor.runtime.clock import DAY, HOUR, midnight

DECIMALS = 6
_UTC_TAILS = [f"T{h:02d}:00:00" for h in range(24)]


@dataclass(frozen=True, slots=True)
class Request:
    """A page asked for, resolved: whose, of which days, in which zone, from where, how long.

    `first` and `end` are the UTC hour starts [first, end) of the zone's days [start, last];
    `begin` is the first hour the page may hold (`first`, or the hour after an hourly cursor's),
    `after` a day or month report's cursor (the last period shown). `granularity` is None for
    /data. `capacity` is the plant's (kWp), for the KPIs."""

    plant_id: int
    granularity: Granularity | None
    zone: tzinfo
    start: date
    last: date
    first: datetime
    end: datetime
    begin: datetime
    after: str | None
    limit: int
    capacity: float | None = None


_NO_HOURS = Sums(0, 0.0, 0.0, 0.0, 0.0)

# A stored UTC day: its date and its 96 packed values (per hour: expected energy, expected
# irradiation, observed energy, observed irradiation; NaN: no data), as the store reads them.
DayValues = tuple[date, tuple[float, ...]]


@dataclass(frozen=True, slots=True)
class Stored:
    """What the read stage found for a request: the day items' values (hourly pages; day and month
    reports in a zone other than UTC), the days of the month summaries (day and month reports in
    UTC), and the exact sums of the whole range (hour reports; else no hours)."""

    days: list[DayValues] = field(default_factory=list)
    day_sums: dict[date, Sums] = field(default_factory=dict)
    totals: Sums = _NO_HOURS


@dataclass(frozen=True, slots=True)
class Offset:
    """A UTC offset as text: `iso` as datetime.isoformat writes it (`+00:00`, seconds if any),
    `json` as pydantic-core writes it after a datetime (`Z` for zero, minutes only)."""

    delta: timedelta
    iso: str
    json: str


@functools.cache
def offset(delta: timedelta) -> Offset:
    stamp = datetime(2000, 1, 1, tzinfo=timezone(delta))
    return Offset(delta, stamp.isoformat()[19:], pydantic_core.to_json(stamp).decode()[20:-1])


# A timestamp of the zone: its wall time `YYYY-MM-DDTHH:MM:SS` and its offset.
Stamp = tuple[str, Offset]


def stamp(instant: datetime) -> Stamp:
    """The stamp of an aware datetime, in the zone it carries."""
    return instant.isoformat()[:19], offset(instant.utcoffset() or timedelta(0))


def instant(wall: str, off: Offset, zone: tzinfo) -> datetime:
    """The datetime a stamp stands for, in `zone` (datetime.UTC for UTC)."""
    return datetime.fromisoformat(wall + off.iso).astimezone(zone)


def day_clock(day: date, zone: tzinfo) -> tuple[list[str], list[Offset]]:
    """The wall times and offsets, in `zone`, of the 24 hours of a UTC day.

    A day whose offset is the same at its first and last hour is formatted by string operations
    from its first hour (as `compute._segments` splits it; no zone changes its offset twice in
    one UTC day, tests/unit/datapoints/test_read_bytes.py checks tzdata); only a day with a change is
    converted hour by hour.
    """
    if zone is UTC:
        prefix = day.isoformat()
        return [prefix + tail for tail in _UTC_TAILS], [offset(timedelta(0))] * 24
    start = midnight(day)
    delta = start.astimezone(zone).utcoffset()
    if delta is not None and delta == (start + 23 * HOUR).astimezone(zone).utcoffset():
        local = start + delta  # the wall time of hour 0, as a UTC datetime
        today, tomorrow = f"{local.date().isoformat()}T", f"{(local.date() + DAY).isoformat()}T"
        tail = f":{local.minute:02d}:{local.second:02d}"
        walls = [
            f"{today if h < 24 else tomorrow}{h % 24:02d}{tail}" for h in range(local.hour, local.hour + 24)
        ]
        return walls, [offset(delta)] * 24
    stamps = [stamp((start + h * HOUR).astimezone(zone)) for h in range(24)]
    return [wall for wall, _ in stamps], [off for _, off in stamps]


# A row of /data: the hour's stamp, then expected energy and irradiation, observed energy and
# irradiation.
DataRow = tuple[str, Offset, float, float, float, float]

# A bucket of /report: its period, its start's stamp, hours present and spanned, then its sums
# of expected energy and irradiation, observed energy and irradiation.
Bucket = tuple[str, str, Offset, int, int, float, float, float, float]

# One figure of every bucket of a page (`figures`).
Column = list[float | None]


def _rounded(values: Iterable[float]) -> Column:
    """round(x, DECIMALS) of each float (float.__round__ itself: a quarter faster than round's
    dispatch, 9 times per hour of an hour report)."""
    return list(map(float.__round__, values, repeat(DECIMALS)))


_positive = functools.partial(lt, 0.0)  # x > 0; False for NaN


def _ratio(numerators: Sequence[float], divisors: Sequence[float], valid: Callable[[float], bool]) -> Column:
    """round(n / d, DECIMALS), or None where the divisor is not `valid`."""
    if all(map(valid, divisors)):  # the usual case, without a Python loop
        return _rounded(map(truediv, numerators, divisors))
    return [round(n / d, DECIMALS) if valid(d) else None for n, d in zip(numerators, divisors, strict=True)]


def figures(
    ee: Sequence[float], ei: Sequence[float], oe: Sequence[float], oi: Sequence[float], capacity: float | None
) -> list[Column]:
    """What buckets show of their sums (one list per field, one value per bucket), rounded, in
    ReportRow's order: energy expected, observed, observed/expected; irradiation the same;
    specific yield (E/P0), expected specific yield, and the IEC 61724-1 performance ratio
    (E/P0) / (H/G_stc), with H in kWh/m² (the Wh/m² / 1000) and G_stc = 1 kW/m². A ratio is null
    where its divisor is 0, the KPIs without a capacity. Column by column, so that the 9 roundings
    of each of a year's 8,760 hours run in C."""
    columns = [
        _rounded(ee),
        _rounded(oe),
        _ratio(oe, ee, bool),
        _rounded(ei),
        _rounded(oi),
        _ratio(oi, ei, bool),
    ]
    if not capacity:
        blank: Column = [None] * len(ee)
        return [*columns, *([blank] * 3)]
    final_yield = list(map(truediv, oe, repeat(capacity)))
    reference_yield = list(map(truediv, oi, repeat(1000)))  # kWh/m² over G_stc = 1 kW/m²: hours
    return [
        *columns,
        _rounded(final_yield),
        _rounded(map(truediv, ee, repeat(capacity))),
        _ratio(final_yield, reference_yield, _positive),
    ]


def bucket_figures(buckets: Sequence[Bucket], capacity: float | None) -> list[Column]:
    """`figures` of these buckets' sums (each sum's column taken alone, in C, rather than every
    field of every bucket transposed)."""
    ee, ei, oe, oi = (list(map(itemgetter(index), buckets)) for index in range(5, 9))
    return figures(ee, ei, oe, oi, capacity)


def report_row(
    hours_present: int, hours_total: int, ee: float, ei: float, oe: float, oi: float, capacity: float | None
) -> ReportRow:
    return ReportRow(
        **row_fields(hours_present, hours_total, [c[0] for c in figures([ee], [ei], [oe], [oi], capacity)])
    )


def row_fields(hours_present: int, hours_total: int, f: Sequence[float | None]) -> dict[str, object]:
    """A ReportRow's fields, from its hours and its figures (`figures`' order)."""
    return {
        "hours_present": hours_present,
        "hours_total": hours_total,
        "energy": Measure(expected=f[0], observed=f[1], observed_to_expected=f[2]),
        "irradiation": Measure(expected=f[3], observed=f[4], observed_to_expected=f[5]),
        "specific_yield": f[6],
        "expected_specific_yield": f[7],
        "performance_ratio": f[8],
    }
