"""The read side: a plant's stored hours, and reports summed by hour, day or month.

`from` and `to` are whole UTC days, both inclusive. Day and month reports read the month
summaries (120 items for ten years); hour reports and raw data read day items, a page at a time.
Large results are paginated with a cursor, so no response nears API Gateway's 6 MB limit.
"""

from __future__ import annotations

import csv
import io
from calendar import monthrange
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from powerfactor import cursors
from powerfactor.errors import InvalidCursor, InvalidRange
from powerfactor.models import (
    DataItem,
    DataPage,
    Granularity,
    Measure,
    Reading,
    ReportBucket,
    ReportPage,
    ReportRow,
)
from powerfactor.plants import get_plant
from powerfactor.storage import datapoints
from powerfactor.storage.datapoints import Sums

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000  # 10,000 hours of data is about 1.6 MB of JSON
DECIMALS = 6


def _check_range(plant_id: int, start: date, last: date) -> None:
    if start > last:
        raise InvalidRange("`from` is after `to`")
    get_plant(plant_id)  # PlantNotFound for an unknown plant


def _parse_after(after: str, pattern: str) -> datetime:
    """The position a cursor holds; InvalidCursor if it is not one this API wrote."""
    try:
        return datetime.strptime(after, pattern)
    except ValueError:
        raise InvalidCursor() from None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _request(plant_id: int, start: date, last: date) -> str:
    """What a data or report cursor is bound to."""
    return f"{plant_id}/{start}/{last}"


def data_page(
    plant_id: int, start: date, last: date, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> DataPage:
    """Stored hours of [start, last] (whole days), `limit` per page."""
    _check_range(plant_id, start, last)
    request = _request(plant_id, start, last)
    after = cursors.decode(cursor, "data", request) if cursor else None
    begin = start
    if after is not None:
        after_hour = _parse_after(after, "%Y-%m-%dT%H:%M:%S%z")
        begin = min(max(after_hour.date(), start), last)  # never outside the request's range
    items: list[DataItem] = []
    more = False
    for point in datapoints.read_hours(plant_id, begin, last + timedelta(days=1)):
        if after is not None and point.hour <= after_hour:
            continue
        if len(items) == limit:
            more = True
            break
        items.append(
            DataItem(
                hour=point.hour,
                expected=Reading(energy=point.expected_energy, irradiation=point.expected_irradiation),
                observed=Reading(energy=point.observed_energy, irradiation=point.observed_irradiation),
            )
        )
    next_cursor = cursors.encode("data", items[-1].hour.isoformat(), request) if more else None
    return DataPage(plant_id=plant_id, from_=start, to=last, items=items, next_cursor=next_cursor)


def _measure(expected: float, observed: float) -> Measure:
    return Measure(
        expected=round(expected, DECIMALS),
        observed=round(observed, DECIMALS),
        ratio=round(observed / expected, DECIMALS) if expected else None,
    )


def _row(sums: Sums, hours_total: int) -> ReportRow:
    return ReportRow(
        hours_present=sums.hours,
        hours_total=hours_total,
        energy=_measure(sums.expected_energy, sums.observed_energy),
        irradiation=_measure(sums.expected_irradiation, sums.observed_irradiation),
    )


def _bucket(period: str, start: datetime, sums: Sums, hours_total: int) -> ReportBucket:
    return ReportBucket(
        period=period,
        start=start,
        hours_present=sums.hours,
        hours_total=hours_total,
        energy=_measure(sums.expected_energy, sums.observed_energy),
        irradiation=_measure(sums.expected_irradiation, sums.observed_irradiation),
    )


def _hour_buckets(plant_id: int, start: date, last: date, after: str | None) -> Iterable[ReportBucket]:
    begin = min(max(date.fromisoformat(after[:10]), start), last) if after else start
    for p in datapoints.read_hours(plant_id, begin, last + timedelta(days=1)):
        period = p.hour.strftime("%Y-%m-%dT%H:00Z")
        if after is not None and period <= after:
            continue
        sums = Sums(1, p.expected_energy, p.expected_irradiation, p.observed_energy, p.observed_irradiation)
        yield _bucket(period, p.hour, sums, 1)


def _day_buckets(days: dict[date, Sums], after: str | None) -> Iterable[ReportBucket]:
    for day in sorted(days):
        period = day.isoformat()
        if after is None or period > after:
            yield _bucket(period, _midnight(day), days[day], 24)


def _month_buckets(
    days: dict[date, Sums], start: date, last: date, after: str | None
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
        yield _bucket(period, _midnight(month), Sums.of(parts), ((final - first).days + 1) * 24)


def report(
    plant_id: int,
    start: date,
    last: date,
    granularity: Granularity = "day",
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> ReportPage:
    """Sums of [start, last] (whole days) by hour, day or month, `limit` buckets per page."""
    _check_range(plant_id, start, last)
    request = _request(plant_id, start, last)
    after = cursors.decode(cursor, granularity, request) if cursor else None
    if after is not None:  # in the one spelling periods have (strptime also takes "2024-1-5T3:00Z")
        pattern = {"hour": "%Y-%m-%dT%H:00Z", "day": "%Y-%m-%d", "month": "%Y-%m"}[granularity]
        after = _parse_after(after, pattern).strftime(pattern)
    days = datapoints.read_day_sums(plant_id, start, last + timedelta(days=1))
    if granularity == "hour":
        buckets = _hour_buckets(plant_id, start, last, after)
    elif granularity == "day":
        buckets = _day_buckets(days, after)
    else:
        buckets = _month_buckets(days, start, last, after)
    items: list[ReportBucket] = []
    more = False
    for bucket in buckets:
        if len(items) == limit:
            more = True
            break
        items.append(bucket)
    totals = _row(Sums.of(days.values()), ((last - start).days + 1) * 24)
    next_cursor = cursors.encode(granularity, items[-1].period, request) if more else None
    return ReportPage(
        plant_id=plant_id, from_=start, to=last, granularity=granularity, items=items, totals=totals,
        next_cursor=next_cursor,
    )  # fmt: skip


def data_csv(page: DataPage) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["datetime", "expected_energy_kwh", "expected_irradiation_wh_m2",
                     "observed_energy_kwh", "observed_irradiation_wh_m2"])  # fmt: skip
    for item in page.items:
        writer.writerow([item.hour.strftime("%Y-%m-%dT%H:%M:%SZ"), repr(item.expected.energy),
                         repr(item.expected.irradiation), repr(item.observed.energy),
                         repr(item.observed.irradiation)])  # fmt: skip
    return out.getvalue()


def report_csv(page: ReportPage) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["period", "hours_present", "hours_total", "energy_expected_kwh", "energy_observed_kwh",
                     "energy_ratio", "irradiation_expected_wh_m2", "irradiation_observed_wh_m2",
                     "irradiation_ratio"])  # fmt: skip

    def row(period: str, r: ReportRow) -> list[object]:
        e, i = r.energy, r.irradiation
        return [period, r.hours_present, r.hours_total, e.expected, e.observed, _blank(e.ratio),
                i.expected, i.observed, _blank(i.ratio)]  # fmt: skip

    for bucket in page.items:
        writer.writerow(row(bucket.period, bucket))
    if page.next_cursor is None:
        writer.writerow(row("total", page.totals))
    return out.getvalue()


def _blank(ratio: float | None) -> object:
    return "" if ratio is None else ratio
