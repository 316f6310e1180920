"""The datapoints table: one item per plant-day, one summary item per plant-month.

Key: `plant_id` (N) + `period` (S).
- `D#YYYY-MM-DD`: a day. `hours` packs the day's 24 hours as 96 little-endian float64 (expected
  energy, expected irradiation, observed energy, observed irradiation per hour; NaN = no data),
  768 bytes, so a day is one item of under 1 KB: one write unit. `n` is the number of hours
  present and `ee ei oe oi` their sums.
- `M#YYYY-MM`: a month summary, rewritten in the same batch whenever a day of the month is
  written (a day that is written again always rewrites its entry, so a run that failed between
  the two is repaired by the run that fetches the day again): `days` packs
  (n, ee, ei, oe, oi) for each of 31 days as float64, plus the month's totals. A day or month
  report over ten years reads 120 of these instead of 87,600 hours.

All sums use math.fsum; stored values are the service's float64 values, bit for bit.
"""

from __future__ import annotations

import calendar
import math
import struct
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from powerfactor.models import Datapoint
from powerfactor.storage._tables import bind

_DAY = struct.Struct("<96d")
_MONTH = struct.Struct("<155d")
_NAN = math.nan
_BATCH = 25  # items per BatchWriteItem call, DynamoDB's limit
_WRITERS = 4  # BatchWriteItem calls in flight at once


class _PeriodItem(Model):
    """What day and month items share: the key, the hour count and the four sums."""

    class Meta:
        table_name = "unbound"

    plant_id = NumberAttribute(hash_key=True)
    period = UnicodeAttribute(range_key=True)
    n = NumberAttribute()
    ee = NumberAttribute()
    ei = NumberAttribute()
    oe = NumberAttribute()
    oi = NumberAttribute()


class _DayItem(_PeriodItem):
    hours = BinaryAttribute(legacy_encoding=False)


class _MonthItem(_PeriodItem):
    days = BinaryAttribute(legacy_encoding=False)


def _bind() -> None:
    bind((_DayItem, _MonthItem), lambda settings: settings.datapoints_table)


@dataclass(frozen=True, slots=True)
class Sums:
    """Sums over some hours: how many hours, and the four totals."""

    hours: int
    expected_energy: float
    expected_irradiation: float
    observed_energy: float
    observed_irradiation: float

    @staticmethod
    def of(parts: Iterable[Sums]) -> Sums:
        parts = list(parts)
        return Sums(
            sum(p.hours for p in parts),
            math.fsum(p.expected_energy for p in parts),
            math.fsum(p.expected_irradiation for p in parts),
            math.fsum(p.observed_energy for p in parts),
            math.fsum(p.observed_irradiation for p in parts),
        )


def _day_key(day: date) -> str:
    return f"D#{day.isoformat()}"


def _month_key(day: date) -> str:
    return f"M#{day:%Y-%m}"


def _pack(hours: dict[int, Datapoint]) -> bytes:
    values: list[float] = []
    for h in range(24):
        p = hours.get(h)
        if p is None:
            values += (_NAN, _NAN, _NAN, _NAN)
        else:
            values += (p.expected_energy, p.expected_irradiation, p.observed_energy, p.observed_irradiation)
    return _DAY.pack(*values)


def _unpack(day: date, blob: bytes) -> dict[int, Datapoint]:
    values = _DAY.unpack(blob)
    hours = {}
    for h in range(24):
        ee, ei, oe, oi = values[4 * h : 4 * h + 4]
        if not math.isnan(ee):
            hours[h] = Datapoint(datetime(day.year, day.month, day.day, h, tzinfo=UTC), ee, ei, oe, oi)
    return hours


def _sums(hours: dict[int, Datapoint]) -> Sums:
    points = hours.values()
    return Sums(
        len(hours),
        math.fsum(p.expected_energy for p in points),
        math.fsum(p.expected_irradiation for p in points),
        math.fsum(p.observed_energy for p in points),
        math.fsum(p.observed_irradiation for p in points),
    )


def _day_item(plant_id: int, day: date, hours: dict[int, Datapoint]) -> _DayItem:
    s = _sums(hours)
    return _DayItem(
        plant_id=plant_id, period=_day_key(day), hours=_pack(hours), n=s.hours,
        ee=s.expected_energy, ei=s.expected_irradiation, oe=s.observed_energy, oi=s.observed_irradiation,
    )  # fmt: skip


def write_days(plant_id: int, points: Iterable[Datapoint]) -> dict[date, int]:
    """Upsert these datapoints; return, for each day written, how many hours it now holds.

    A day the points cover completely is written as it is. A day they cover only in part is
    merged with what is stored, so a response that lacks an hour never erases it. The days and
    the summaries of their months go out together (`_batch_write`; pynamodb retries unprocessed
    items).
    """
    _bind()
    by_day: dict[date, dict[int, Datapoint]] = {}
    for p in points:
        by_day.setdefault(p.hour.date(), {})[p.hour.hour] = p
    partial = [day for day, hours in by_day.items() if len(hours) < 24]
    if partial:
        for item in _DayItem.batch_get([(plant_id, _day_key(d)) for d in partial]):
            day = date.fromisoformat(item.period[2:])
            by_day[day] = {**_unpack(day, item.hours), **by_day[day]}
    days = {day: _day_item(plant_id, day, hours) for day, hours in by_day.items()}
    _batch_write([*days.values(), *_month_items(plant_id, days)])
    return {day: len(hours) for day, hours in by_day.items()}


def _batch_write(items: list[_PeriodItem]) -> None:
    """Put these items, 25 to a BatchWriteItem call, the calls sent side by side (a month of
    days and its summary is 32 items: two calls at once instead of one after the other)."""
    batches = [items[i : i + _BATCH] for i in range(0, len(items), _BATCH)]
    if len(batches) <= 1:
        return _commit(items)
    with ThreadPoolExecutor(min(len(batches), _WRITERS), thread_name_prefix="batch-write") as pool:
        for _ in pool.map(_commit, batches):  # re-raises the first failure
            pass


def _commit(items: list[_PeriodItem]) -> None:
    with _DayItem.batch_write() as batch:
        for item in items:
            batch.save(item)


def _month_items(plant_id: int, days: dict[date, _DayItem]) -> list[_MonthItem]:
    """The summaries of the months these days fall in, with these days' sums put in.

    A month the days cover completely (a backfill month) is built from them alone; for any
    other month the stored summary is read first (one BatchGetItem) and keeps its other days.
    """
    months: dict[date, dict[int, _DayItem]] = {}
    for day, item in days.items():
        months.setdefault(day.replace(day=1), {})[day.day] = item
    partial = [m for m, covered in months.items() if len(covered) < calendar.monthrange(m.year, m.month)[1]]
    stored = {
        item.period: list(_MONTH.unpack(item.days))
        for item in (_MonthItem.batch_get([(plant_id, _month_key(m)) for m in partial]) if partial else [])
    }
    summaries = []
    for month, covered in sorted(months.items()):
        values = stored.get(_month_key(month)) or [0.0] * 155
        for number, item in covered.items():
            values[5 * (number - 1) : 5 * number] = [item.n, item.ee, item.ei, item.oe, item.oi]
        total = Sums.of(Sums(int(values[i]), *values[i + 1 : i + 5]) for i in range(0, 155, 5) if values[i])
        summary = _MonthItem(
            plant_id=plant_id, period=_month_key(month), days=_MONTH.pack(*values), n=total.hours,
            ee=total.expected_energy, ei=total.expected_irradiation, oe=total.observed_energy,
            oi=total.observed_irradiation,
        )  # fmt: skip
        summaries.append(summary)
    return summaries


def read_hours(plant_id: int, start: date, end: date) -> Iterator[Datapoint]:
    """The stored datapoints of [start, end) in time order, read a day item at a time."""
    _bind()
    if start >= end:
        return
    for item in _DayItem.query(
        plant_id,
        range_key_condition=_DayItem.period.between(_day_key(start), _day_key(end - timedelta(days=1))),
    ):
        day = date.fromisoformat(item.period[2:])
        hours = _unpack(day, item.hours)
        for h in sorted(hours):
            yield hours[h]


def read_day_sums(plant_id: int, start: date, end: date) -> dict[date, Sums]:
    """Sums of every stored day in [start, end), from the month summaries."""
    _bind()
    result: dict[date, Sums] = {}
    if start >= end:
        return result
    last = end - timedelta(days=1)
    for item in _MonthItem.query(
        plant_id, range_key_condition=_MonthItem.period.between(_month_key(start), _month_key(last))
    ):
        year, month = int(item.period[2:6]), int(item.period[7:9])
        values = _MONTH.unpack(item.days)
        for index in range(31):
            n = int(values[5 * index])
            if n == 0:
                continue
            day = date(year, month, index + 1)
            if start <= day <= last:
                result[day] = Sums(n, *values[5 * index + 1 : 5 * index + 5])
    return result


def delete_plant_data(plant_id: int) -> int:
    """Delete every datapoint item of a plant; return how many items were deleted."""
    _bind()
    deleted = 0
    keys = list(_DayItem.query(plant_id, attributes_to_get=["plant_id", "period"]))
    with _DayItem.batch_write() as batch:
        for item in keys:
            batch.delete(item)
            deleted += 1
    return deleted
