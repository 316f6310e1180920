"""The read path's last stage: a page's rows (`rows.py`) as text, JSON or CSV, or as its pydantic model.

A year of hours is 8,760 rows. Building a pydantic model per row (and per measure inside it)
and serializing them cost several times the read itself (bench/README.md), so the handler writes
the text straight from the rows instead: every number is formatted by pydantic-core (one
`to_json` call over all of a page's numbers, so the text is pydantic's, `1e-7`, `0.00001`,
`null` for NaN, not Python's `repr`), the envelope (plant, range, totals, cursor) is the page
model's own serialization with the items spliced in, and the timestamps come as text in the rows
(`rows.day_clock`). Nothing here reads or computes: the figures of a report's buckets come with
them from the compute stage. The models stay the OpenAPI schema, the Python API
(`reports.data_page`, `reports.report`), and the reference the text is tested against byte for
byte (tests/unit/datapoints/test_read_bytes.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import InitVar, dataclass, field
from datetime import UTC, date, tzinfo
from itertools import chain, repeat
from operator import attrgetter, is_
from typing import Any, cast

import pydantic_core

# HOUR, day_clock and report_row are the row format's (rows.py), named here too for the callers
# that write a page from rows of their own
from powerfactor.datapoints.rows import HOUR as HOUR
from powerfactor.datapoints.rows import Bucket, Column, DataRow, bucket_figures, instant, row_fields
from powerfactor.datapoints.rows import day_clock as day_clock
from powerfactor.datapoints.rows import report_row as report_row
from powerfactor.datapoints.schemas import (
    DataItem,
    DataPage,
    Granularity,
    Reading,
    ReportBucket,
    ReportPage,
    ReportRow,
)


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


@dataclass(frozen=True, slots=True)
class ReportRows:
    """One page of buckets, the totals of the whole range, and what the buckets show of their sums
    (`figures`: the compute stage's, given as the last argument; else computed from the buckets
    here, for a caller that builds a page from sums of its own)."""

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
    given_figures: InitVar[list[Column] | None] = None
    figures: list[Column] = field(init=False)

    def __post_init__(self, given_figures: list[Column] | None) -> None:
        shown = bucket_figures(self.buckets, self.capacity) if given_figures is None else given_figures
        object.__setattr__(self, "figures", shown)

    def _envelope(self, items: list[ReportBucket]) -> ReportPage:
        return ReportPage(
            plant_id=self.plant_id, tz=self.tz, from_=self.start, to=self.last, granularity=self.granularity,
            items=items, totals=self.totals, next_cursor=self.next_cursor,
        )  # fmt: skip

    def _columns(self) -> list[tuple]:
        """The buckets' fields, a column per field (`Bucket`'s order)."""
        return list(zip(*self.buckets, strict=True)) if self.buckets else [()] * 9

    def model(self) -> ReportPage:
        return self._envelope(
            [
                ReportBucket(period=period, start=instant(wall, off, self.zone), **row_fields(n, total, f))
                for (period, wall, off, n, total, *_), f in zip(
                    self.buckets, zip(*self.figures, strict=True), strict=True
                )
            ]
        )

    def json(self) -> str:
        """`self.model().model_dump_json()`, byte for byte."""
        fields = self._columns()
        a, b, c, d, e, f, g, h, i = _number_columns(self.figures)
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
            for bucket, f in zip(self.buckets, zip(*self.figures, strict=True), strict=True)
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
