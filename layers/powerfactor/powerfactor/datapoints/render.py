"""A page of /data or /report as rows, and its three forms: pydantic models, JSON text, CSV text.

A year of hours is 8,760 rows. Building a pydantic model per row (and per measure inside it)
and serializing them cost several times the read itself (bench/README.md), so the handler writes
the text straight from the rows instead: every number is formatted by pydantic-core (one
`to_json` call over all of a page's numbers, so the text is pydantic's, `1e-7`, `0.00001`,
`null` for NaN, not Python's `repr`), the envelope (plant, range, totals, cursor) is the page
model's own serialization with the items spliced in, and the timestamps are formatted once per
UTC day (`day_clock`) instead of once per hour. The models stay the OpenAPI schema, the Python
API (`reports.data_page`, `reports.report`), and the reference the text is tested against byte
for byte (tests/unit/datapoints/test_read_bytes.py).
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from itertools import chain, repeat
from operator import attrgetter, is_, lt, truediv
from typing import Any, cast

import pydantic_core

from powerfactor.datapoints.schemas import (
    DataItem,
    DataPage,
    Granularity,
    Measure,
    Reading,
    ReportBucket,
    ReportPage,
    ReportRow,
)
from powerfactor.runtime.clock import HOUR

DECIMALS = 6
_DAY = timedelta(days=1)
_UTC_TAILS = [f"T{h:02d}:00:00" for h in range(24)]


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
    from its first hour (as `reports._segments` splits it; no zone changes its offset twice in
    one UTC day, tests/unit/datapoints/test_read_bytes.py checks tzdata); only a day with a change is
    converted hour by hour.
    """
    if zone is UTC:
        prefix = day.isoformat()
        return [prefix + tail for tail in _UTC_TAILS], [offset(timedelta(0))] * 24
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    delta = midnight.astimezone(zone).utcoffset()
    if delta is not None and delta == (midnight + 23 * HOUR).astimezone(zone).utcoffset():
        local = midnight + delta  # the wall time of hour 0, as a UTC datetime
        today, tomorrow = f"{local.date().isoformat()}T", f"{(local.date() + _DAY).isoformat()}T"
        tail = f":{local.minute:02d}:{local.second:02d}"
        walls = [
            f"{today if h < 24 else tomorrow}{h % 24:02d}{tail}" for h in range(local.hour, local.hour + 24)
        ]
        return walls, [offset(delta)] * 24
    stamps = [stamp((midnight + h * HOUR).astimezone(zone)) for h in range(24)]
    return [wall for wall, _ in stamps], [off for _, off in stamps]


def _numbers(values: list[float | None]) -> list[str]:
    """Each value as pydantic-core writes a float field (NaN and None: `null`)."""
    if not values:
        return []
    return pydantic_core.to_json(values, inf_nan_mode="null").decode()[1:-1].split(",")


def _number_columns(columns: Sequence[Sequence[float | None]]) -> list[str | list[str]]:
    """`_numbers` of each column, in one `to_json` call; a column that is all null (a report's KPIs
    without a capacity) as the one text `null`, which `_splice` writes as a constant."""
    constant = [
        bool(column) and column[0] is None and column.count(None) == len(column) for column in columns
    ]
    texts = _numbers(
        list(chain.from_iterable(c for c, null in zip(columns, constant, strict=True) if not null))
    )
    result: list[str | list[str]] = []
    at = 0
    for column, null in zip(columns, constant, strict=True):
        if null:
            result.append("null")
        else:
            result.append(texts[at : at + len(column)])
            at += len(column)
    return result


def _same_or_each(values: Sequence[object], text: Callable[[Any], str]) -> str | list[str]:
    """The text of each value, or one str (a constant of `_splice`) if all are the same object
    (an hour bucket's hours, 1 of 1; the cached `Offset` of a zone without DST)."""
    if values and all(map(is_, values, repeat(values[0]))):
        return text(values[0])
    return list(map(text, values))


def _splice(envelope: str, count: int, opening: str, pieces: Sequence[str | Sequence[str]]) -> str:
    """The page model's JSON (written with no items) with `count` items put in, in one join.

    An item's text is `opening` (`{"key":`), then `pieces` in order: a str is the same in every
    item, a sequence holds one string per item. The pieces are laid out by slice assignment, so
    no text is formatted per item (a year of hour buckets is 8,760 items of ~25 pieces)."""
    head, tail = envelope.split('"items":[]', 1)
    if not count:
        return f'{head}"items":[]{tail}'
    merged: list[str | Sequence[str]] = []  # adjacent constants joined: fewer pieces to lay out
    for piece in pieces:
        if isinstance(piece, str) and (not merged or isinstance(merged[-1], str)):
            if merged:
                merged[-1] = cast(str, merged[-1]) + piece
            else:
                opening += piece
        else:
            merged.append(piece)
    width = len(merged) + 1
    parts = [""] * (width * count + 2)
    parts[1:-1:width] = [f",{opening}"] * count
    for index, piece in enumerate(merged, 2):
        parts[index:-1:width] = [piece] * count if isinstance(piece, str) else piece
    parts[0], parts[1], parts[-1] = f'{head}"items":[', opening, f"]{tail}"  # no comma before the first item
    return "".join(parts)


# A row of /data: the hour's stamp, then expected energy and irradiation, observed energy and
# irradiation.
DataRow = tuple[str, Offset, float, float, float, float]


@dataclass(frozen=True, slots=True)
class DataRows:
    """One page of stored hours."""

    plant_id: int
    tz: str
    zone: tzinfo
    start: date
    last: date
    rows: list[DataRow]
    next_cursor: str | None

    def _envelope(self, items: list[DataItem]) -> DataPage:
        return DataPage(
            plant_id=self.plant_id, tz=self.tz, from_=self.start, to=self.last, items=items,
            next_cursor=self.next_cursor,
        )  # fmt: skip

    def model(self) -> DataPage:
        return self._envelope(
            [
                DataItem(
                    hour=instant(wall, off, self.zone),
                    expected=Reading(energy=ee, irradiation=ei),
                    observed=Reading(energy=oe, irradiation=oi),
                )
                for wall, off, ee, ei, oe, oi in self.rows
            ]
        )

    def json(self) -> str:
        """`self.model().model_dump_json()`, byte for byte."""
        numbers = _numbers(list(chain.from_iterable(row[2:] for row in self.rows)))  # row by row
        walls, offsets = list(zip(*self.rows, strict=True))[:2] if self.rows else ((), ())
        pieces = (
            walls, _same_or_each(offsets, attrgetter("json")), '","expected":{"energy":', numbers[0::4],
            ',"irradiation":', numbers[1::4], '},"observed":{"energy":', numbers[2::4], ',"irradiation":',
            numbers[3::4], "}}",
        )  # fmt: skip
        return _splice(self._envelope([]).model_dump_json(), len(self.rows), '{"datetime":"', pieces)

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["datetime", "expected_energy_kwh", "expected_irradiation_wh_m2",
                         "observed_energy_kwh", "observed_irradiation_wh_m2"])  # fmt: skip
        utc = self.zone is UTC  # `Z` in UTC (as the original wrote it), else the offset
        writer.writerows(
            (f"{wall}Z" if utc else wall + off.iso, repr(ee), repr(ei), repr(oe), repr(oi))
            for wall, off, ee, ei, oe, oi in self.rows
        )
        return out.getvalue()


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


def report_row(
    hours_present: int, hours_total: int, ee: float, ei: float, oe: float, oi: float, capacity: float | None
) -> ReportRow:
    return ReportRow(
        **_fields(hours_present, hours_total, [c[0] for c in figures([ee], [ei], [oe], [oi], capacity)])
    )


def _fields(hours_present: int, hours_total: int, f: Sequence[float | None]) -> dict[str, object]:
    return {
        "hours_present": hours_present,
        "hours_total": hours_total,
        "energy": Measure(expected=f[0], observed=f[1], observed_to_expected=f[2]),
        "irradiation": Measure(expected=f[3], observed=f[4], observed_to_expected=f[5]),
        "specific_yield": f[6],
        "expected_specific_yield": f[7],
        "performance_ratio": f[8],
    }


# A bucket of /report: its period, its start's stamp, hours present and spanned, then its sums
# of expected energy and irradiation, observed energy and irradiation.
Bucket = tuple[str, str, Offset, int, int, float, float, float, float]


@dataclass(frozen=True, slots=True)
class ReportRows:
    """One page of buckets, and the totals of the whole range."""

    plant_id: int
    tz: str
    zone: tzinfo
    start: date
    last: date
    granularity: Granularity
    capacity: float | None
    buckets: list[Bucket]
    totals: ReportRow
    next_cursor: str | None

    def _envelope(self, items: list[ReportBucket]) -> ReportPage:
        return ReportPage(
            plant_id=self.plant_id, tz=self.tz, from_=self.start, to=self.last, granularity=self.granularity,
            items=items, totals=self.totals, next_cursor=self.next_cursor,
        )  # fmt: skip

    def _columns(self) -> list[tuple]:
        """The buckets' fields, a column per field (`Bucket`'s order)."""
        return list(zip(*self.buckets, strict=True)) if self.buckets else [()] * 9

    def _figures(self, fields: list[tuple] | None = None) -> list[Column]:
        """The buckets' figures, a column per field (`figures`)."""
        ee, ei, oe, oi = (fields or self._columns())[5:9]
        return figures(ee, ei, oe, oi, self.capacity)

    def model(self) -> ReportPage:
        return self._envelope(
            [
                ReportBucket(period=period, start=instant(wall, off, self.zone), **_fields(n, total, f))
                for (period, wall, off, n, total, *_), f in zip(
                    self.buckets, zip(*self._figures(), strict=True), strict=True
                )
            ]
        )

    def json(self) -> str:
        """`self.model().model_dump_json()`, byte for byte."""
        fields = self._columns()
        a, b, c, d, e, f, g, h, i = _number_columns(self._figures(fields))
        periods, walls, offsets, present, total = fields[:5]
        pieces = (
            _same_or_each(present, str), ',"hours_total":', _same_or_each(total, str),
            ',"energy":{"expected":', a, ',"observed":', b, ',"observed_to_expected":', c,
            '},"irradiation":{"expected":', d, ',"observed":', e, ',"observed_to_expected":', f,
            '},"specific_yield":', g, ',"expected_specific_yield":', h, ',"performance_ratio":', i,
            ',"period":"', periods, '","start":"', walls, _same_or_each(offsets, attrgetter("json")), '"}',
        )  # fmt: skip
        return _splice(self._envelope([]).model_dump_json(), len(self.buckets), '{"hours_present":', pieces)

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["period", "hours_present", "hours_total", "energy_expected_kwh",
                         "energy_observed_kwh", "energy_observed_to_expected", "irradiation_expected_wh_m2",
                         "irradiation_observed_wh_m2", "irradiation_observed_to_expected",
                         "specific_yield_kwh_kwp", "expected_specific_yield_kwh_kwp",
                         "performance_ratio"])  # fmt: skip
        writer.writerows(
            (bucket[0], bucket[3], bucket[4], *("" if x is None else x for x in f))
            for bucket, f in zip(self.buckets, zip(*self._figures(), strict=True), strict=True)
        )
        if self.next_cursor is None:
            t = self.totals
            e, i = t.energy, t.irradiation
            shown = (
                e.expected, e.observed, e.observed_to_expected, i.expected, i.observed,
                i.observed_to_expected, t.specific_yield, t.expected_specific_yield, t.performance_ratio,
            )  # fmt: skip
            writer.writerow(
                ["total", t.hours_present, t.hours_total, *("" if x is None else x for x in shown)]
            )
        return out.getvalue()
