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
  report over ten years reads 120 of these instead of 87,600 hours. `rest` makes the month's sums
  exact: for each day and measure, the float64 partials (Shewchuk's, as math.fsum keeps them)
  that the day's rounded sum lacks, as 124 counts (uint8, day by day, ee ei oe oi) and then the
  partials. A month or total over many days is then the fsum of the days' sums and their
  partials: the correctly rounded sum of the hours, rounded once, as if summed hour by hour. (A
  month item written before `rest` existed sums the rounded day sums until it is rewritten.)

Every item carries `expires_at` (epoch seconds, the table's TTL attribute): the end of the
period it covers plus `SYNC_UNTIL_YEAR` years, the first moment the sync's horizon
(`sync.horizon`) has passed all of it. Nothing inside the horizon expires; DynamoDB deletes what
falls behind it by itself (within days of `expires_at`). Items keep the value they were written
with until they are written again.

All sums use math.fsum; stored values are the service's float64 values, bit for bit.
"""

from __future__ import annotations

import calendar
import functools
import math
import random
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from itertools import chain, compress
from typing import Any

from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.models import Model
from pynamodb.pagination import ResultIterator

from powerfactor.aws import internals
from powerfactor.aws.tables import bind
from powerfactor.datapoints.points import Datapoint
from powerfactor.datapoints.sums import Sums, residual
from powerfactor.plants.schemas import ResyncCounts
from powerfactor.runtime.settings import get_settings

_DAY = struct.Struct("<96d")
_MONTH = struct.Struct("<155d")
_REST_COUNTS = struct.Struct("<124B")  # one count of partials per day and measure
_NAN = math.nan
_BATCH = 25  # items per BatchWriteItem call, DynamoDB's limit
_WRITERS = 4  # BatchWriteItem calls in flight at once
_BACKOFF_MS = 25  # before resending unprocessed items: up to this x 2^attempt, at random


class _PeriodItem(Model):
    """What day and month items share: the key, the hour count and the four sums."""

    class Meta:
        table_name = "unbound"

    plant_id = NumberAttribute(hash_key=True)
    period = UnicodeAttribute(range_key=True)
    expires_at = NumberAttribute(null=True)  # None only on items written before the TTL existed
    n = NumberAttribute()
    ee = NumberAttribute()
    ei = NumberAttribute()
    oe = NumberAttribute()
    oi = NumberAttribute()


class _DayItem(_PeriodItem):
    hours = BinaryAttribute(legacy_encoding=False)


class _MonthItem(_PeriodItem):
    days = BinaryAttribute(legacy_encoding=False)
    rest = BinaryAttribute(legacy_encoding=False, null=True)


def _bind() -> None:
    bind((_DayItem, _MonthItem), lambda settings: settings.datapoints_table)


def years_after(day: date, years: int) -> date:
    """The same calendar day `years` later; 29 February becomes 1 March, so that
    `sync.years_before(years_after(d, y), y) >= d` always holds."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def expires_at(end: date, years: int) -> int:
    """The TTL of an item whose period ends (exclusive) on `end`: midnight UTC `years` later, the
    first day whose horizon (`sync.horizon`, `years` before it) lies past the whole period."""
    return int(datetime.combine(years_after(end, years), datetime.min.time(), UTC).timestamp())


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


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
    """The day's four fsums, each with the partials it lacks of the exact sum."""
    points = hours.values()
    columns = (
        [p.expected_energy for p in points],
        [p.expected_irradiation for p in points],
        [p.observed_energy for p in points],
        [p.observed_irradiation for p in points],
    )
    ee, ei, oe, oi = (math.fsum(column) for column in columns)
    residuals = (residual(columns[0], ee), residual(columns[1], ei), residual(columns[2], oe),
                 residual(columns[3], oi))  # fmt: skip
    return Sums(len(hours), ee, ei, oe, oi, residuals)


Item = dict[str, dict[str, Any]]  # an item as DynamoDB's attribute values


def _attrs(plant_id: int, period: str, sums: Sums, expiry: int) -> Item:
    """What day and month items share, serialized as pynamodb's `_PeriodItem` would (a number
    is its repr, as pynamodb's json.dumps writes it), without building a model object."""
    return {
        "plant_id": {"N": str(plant_id)},
        "period": {"S": period},
        "expires_at": {"N": str(expiry)},
        "n": {"N": str(sums.hours)},
        "ee": {"N": repr(sums.expected_energy)},
        "ei": {"N": repr(sums.expected_irradiation)},
        "oe": {"N": repr(sums.observed_energy)},
        "oi": {"N": repr(sums.observed_irradiation)},
    }


def _day_item(plant_id: int, day: date, sums: Sums, hours: dict[int, Datapoint], years: int) -> Item:
    item = _attrs(plant_id, _day_key(day), sums, expires_at(day + timedelta(days=1), years))
    item["hours"] = {"B": _pack(hours)}
    return item


def write_days(plant_id: int, points: Iterable[Datapoint]) -> dict[date, int]:
    """Upsert these datapoints; return, for each day written, how many hours it now holds.

    A day the points cover completely is written as it is. A day they cover only in part is
    merged with what is stored, so a response that lacks an hour never erases it. The days and
    the summaries of their months go out together (`_batch_write`; unprocessed items are sent
    again). A run of many writes to one plant uses `DayWriter`, which fills its batches.
    """
    items, counts = _day_and_month_items(plant_id, points, lambda: None)
    _batch_write(items)
    return counts


class DayWriter:
    """`write_days` for a run of writes to one plant (a sync's chunks), with full batches.

    Each `write` sends its items 25 to a call, as `write_days` does, except a last partial
    batch, which waits for the next write's items (a backfill month is 32 items: ten years take
    152 calls instead of 241). `flush` sends what waits: the caller flushes before it records
    anything as stored. Before reading the table (a partial day or month to merge) and before
    sending a key already waiting, the writer flushes itself, so every read sees every earlier
    write and no call holds a key twice: the table ends as with `write_days`, write by write.
    """

    def __init__(self, plant_id: int) -> None:
        self.plant_id = plant_id
        self._waiting: list[Item] = []

    def write(self, points: Iterable[Datapoint]) -> dict[date, int]:
        """`write_days(self.plant_id, points)`, its last partial batch kept back for the next."""
        items, counts = _day_and_month_items(self.plant_id, points, self.flush)
        if self._waiting:
            waiting = {item["period"]["S"] for item in self._waiting}
            if any(item["period"]["S"] in waiting for item in items):
                self.flush()
        items = self._waiting + items
        full = len(items) - len(items) % _BATCH
        _batch_write(items[:full])
        self._waiting = items[full:]
        return counts

    def flush(self) -> None:
        """Send the items still waiting (at most a batch)."""
        waiting, self._waiting = self._waiting, []
        _batch_write(waiting)


def _day_and_month_items(
    plant_id: int, points: Iterable[Datapoint], before_read: Callable[[], None]
) -> tuple[list[Item], dict[date, int]]:
    """The day items and month summaries `write_days` writes for these points, and each day's
    hours; `before_read` is called once before the table is read (partial days or months)."""
    _bind()
    by_day: dict[date, dict[int, Datapoint]] = {}
    for p in points:
        by_day.setdefault(p.hour.date(), {})[p.hour.hour] = p
    partial = [day for day, hours in by_day.items() if len(hours) < 24]
    if partial or _partial_months(by_day):
        before_read()
    if partial:
        for item in _DayItem.batch_get([(plant_id, _day_key(d)) for d in partial]):
            day = date.fromisoformat(item.period[2:])
            by_day[day] = {**_unpack(day, item.hours), **by_day[day]}
    years = get_settings().sync_until_year
    sums = {day: _sums(hours) for day, hours in by_day.items()}
    days = [_day_item(plant_id, day, sums[day], hours, years) for day, hours in by_day.items()]
    return [*days, *_month_items(plant_id, sums, years)], {day: len(hours) for day, hours in by_day.items()}


def resync_days(
    plant_id: int,
    start: date,
    end: date,
    points: Iterable[Datapoint],
    *,
    remove_missing: bool = False,
    dry_run: bool = False,
) -> dict[date, tuple[ResyncCounts, int]]:
    """A re-sync of the days [start, end) with these datapoints (the service's new answer):
    for each day, its counts (`ResyncCounts`) and how many hours it holds afterwards.

    Hours the answer has overwrite the stored ones. Stored hours it omits are kept and counted
    `unconfirmed`, unless `remove_missing`: then they are removed (a day left with none is
    deleted) and counted `removed`. Only days whose hours change are written, with their months'
    summaries; `dry_run` writes nothing. The stored days are read first (one Query)."""
    _bind()
    answer: dict[date, dict[int, Datapoint]] = {}
    for p in points:
        if start <= p.hour.date() < end:
            answer.setdefault(p.hour.date(), {})[p.hour.hour] = p
    stored = {day: _unpack(day, blob) for day, blob in _day_items(plant_id, start, end)}
    years = get_settings().sync_until_year
    result: dict[date, tuple[ResyncCounts, int]] = {}
    changed_days: dict[date, dict[int, Datapoint]] = {}
    for day in (start + timedelta(days=i) for i in range((end - start).days)):
        new, old = answer.get(day, {}), stored.get(day, {})
        omitted = old.keys() - new.keys()
        counts = ResyncCounts(
            written=len(new),
            added=len(new.keys() - old.keys()),
            changed=sum(1 for h, p in new.items() if h in old and _values(old[h]) != _values(p)),
            removed=len(omitted) if remove_missing else 0,
            unconfirmed=0 if remove_missing else len(omitted),
        )
        hours = new if remove_missing else {**old, **new}
        if counts.added or counts.changed or counts.removed:
            changed_days[day] = hours
        result[day] = (counts, len(hours))
    if changed_days and not dry_run:
        sums = {
            day: _sums(hours) if hours else Sums(0, 0.0, 0.0, 0.0, 0.0) for day, hours in changed_days.items()
        }
        items = [
            _day_item(plant_id, day, sums[day], hours, years) for day, hours in changed_days.items() if hours
        ]
        _batch_write([*items, *_month_items(plant_id, sums, years)])
        empty = [day for day, hours in changed_days.items() if not hours]
        if empty:
            with _DayItem.batch_write() as batch:
                for day in empty:
                    batch.delete(_DayItem(plant_id=plant_id, period=_day_key(day)))
    return result


def _values(p: Datapoint) -> tuple[float, float, float, float]:
    return (p.expected_energy, p.expected_irradiation, p.observed_energy, p.observed_irradiation)


def _batch_write(items: list[Item]) -> None:
    """Put these items, 25 to a BatchWriteItem call, the calls sent side by side (a month of
    days and its summary is 32 items: two calls at once instead of one after the other)."""
    batches = [items[i : i + _BATCH] for i in range(0, len(items), _BATCH)]
    if len(batches) <= 1:
        return _commit(items)
    for _ in _writers().map(_commit, batches):  # re-raises the first failure
        pass


@functools.cache
def _writers() -> ThreadPoolExecutor:
    """The threads that send batches side by side, started once per process (a backfill writes
    121 months: a pool per month started and joined 242 threads)."""
    return ThreadPoolExecutor(_WRITERS, thread_name_prefix="batch-write")


def _commit(items: list[Item]) -> None:
    """One BatchWriteItem of these serialized items, and its unprocessed items again (with
    backoff), at most `max_retry_attempts` calls in all, as pynamodb's `batch_write` does; its
    model objects and their serialization cost more CPU than the call itself."""
    if not items:
        return
    connection = internals.table_connection(_DayItem)
    table = _DayItem.Meta.table_name
    data = connection.batch_write_item(put_items=items)
    attempt = 1
    while unprocessed := ((data or {}).get("UnprocessedItems") or {}).get(table):
        if attempt >= internals.batch_attempts(_DayItem):
            raise PutError("Failed to batch write items: max_retry_attempts exceeded")
        time.sleep(random.uniform(0, _BACKOFF_MS * 2**attempt) / 1000)
        attempt += 1
        data = connection.batch_write_item(
            put_items=[request["PutRequest"]["Item"] for request in unprocessed]
        )


def _month_items(plant_id: int, days: dict[date, Sums], years: int) -> list[Item]:
    """The summaries of the months these days fall in, with these days' sums put in.

    A month the days cover completely (a backfill month) is built from them alone; for any
    other month the stored summary is read first (one BatchGetItem) and keeps its other days.
    """
    months: dict[date, dict[int, Sums]] = {}
    for day, sums in days.items():
        months.setdefault(day.replace(day=1), {})[day.day] = sums
    partial = _partial_months(days)
    stored = {
        item.period: (list(_MONTH.unpack(item.days)), _unpack_rest(item.rest))
        for item in (_MonthItem.batch_get([(plant_id, _month_key(m)) for m in partial]) if partial else [])
    }
    summaries = []
    for month, covered in sorted(months.items()):
        values, rest = stored.get(_month_key(month)) or ([0.0] * 155, [()] * 124)
        for number, s in covered.items():
            values[5 * (number - 1) : 5 * number] = [
                s.hours,
                s.expected_energy,
                s.expected_irradiation,
                s.observed_energy,
                s.observed_irradiation,
            ]
            rest[4 * (number - 1) : 4 * number] = s.residuals
        total = Sums.of(_day_sums(values, rest, index) for index in range(31) if values[5 * index])
        summary = _attrs(plant_id, _month_key(month), total, expires_at(_next_month(month), years))
        summary["days"] = {"B": _MONTH.pack(*values)}
        summary["rest"] = {"B": _pack_rest(rest)}
        summaries.append(summary)
    return summaries


def _partial_months(days: Iterable[date]) -> list[date]:
    """The first days of the months these days cover only in part."""
    months: dict[date, int] = {}
    for day in days:
        first = day.replace(day=1)
        months[first] = months.get(first, 0) + 1
    return [m for m, covered in months.items() if covered < calendar.monthrange(m.year, m.month)[1]]


def _pack_rest(rest: list[tuple[float, ...]]) -> bytes:
    flat = [value for partials in rest for value in partials]
    return _REST_COUNTS.pack(*map(len, rest)) + struct.pack(f"<{len(flat)}d", *flat)


def _unpack_rest(blob: bytes | None) -> list[tuple[float, ...]]:
    """The 124 residuals of a month item; all empty for an item written without them."""
    if not blob:
        return [()] * 124
    counts = _REST_COUNTS.unpack_from(blob)
    flat = struct.unpack_from(f"<{sum(counts)}d", blob, _REST_COUNTS.size)
    rest, at = [], 0
    for count in counts:
        rest.append(flat[at : at + count])
        at += count
    return rest


def _day_sums(values: list[float] | tuple[float, ...], rest: list[tuple[float, ...]], index: int) -> Sums:
    """Day `index` (0-based) of a month summary."""
    n, ee, ei, oe, oi = values[5 * index : 5 * index + 5]
    at = 4 * index
    return Sums(int(n), ee, ei, oe, oi, (rest[at], rest[at + 1], rest[at + 2], rest[at + 3]))


def _query(
    model: type[_PeriodItem],
    plant_id: int,
    first: str,
    last: str,
    attributes: list[str],
    page_size: int | None = None,
) -> Iterator[Item]:
    """`model.query` of the plant's periods `first`..`last` (keys, both inclusive), only these
    attributes, `page_size` items a call: pynamodb's own calls and pagination, but each item as
    botocore returns it (DynamoDB's attribute values), without a model object and its attribute
    deserialization per item (365 objects for a year of day items)."""
    _bind()
    return ResultIterator(
        internals.table_connection(model).query,
        (internals.hash_key(model, plant_id),),
        {
            "range_key_condition": model.period.between(first, last),
            "attributes_to_get": attributes,
            "limit": page_size,
        },
    )


def _day_items(
    plant_id: int, start: date, end: date, page_size: int | None = None
) -> Iterator[tuple[date, bytes]]:
    """Every stored day of [start, end) in order, with its packed hours: one Query of the day
    items, only their keys and hours read, `page_size` items a call (else DynamoDB's 1 MB pages,
    ~1,100 days), so that a reader that stops early has not had more read than it uses."""
    if start >= end:
        return
    last = _day_key(end - timedelta(days=1))
    for item in _query(_DayItem, plant_id, _day_key(start), last, ["period", "hours"], page_size):
        yield date.fromisoformat(item["period"]["S"][2:]), item["hours"]["B"]


def _month_items_read(plant_id: int, start: date, last: date) -> Iterator[Item]:
    """The month summaries of the days `start`..`last`, their days and partials (not the
    month's own totals), as DynamoDB's attribute values."""
    return _query(_MonthItem, plant_id, _month_key(start), _month_key(last), ["period", "days", "rest"])


def _rest(item: Item) -> bytes | None:
    """A month item's `rest` (None on an item written before it existed)."""
    rest = item.get("rest")
    return None if rest is None else rest["B"]


def read_hours(plant_id: int, start: date, end: date) -> Iterator[Datapoint]:
    """The stored datapoints of [start, end) in time order, read a day item at a time."""
    for day, blob in _day_items(plant_id, start, end):
        hours = _unpack(day, blob)
        for h in sorted(hours):
            yield hours[h]


def read_day_values(
    plant_id: int, start: date, end: date, page_size: int | None = None
) -> Iterator[tuple[date, tuple[float, ...]]]:
    """Every stored day of [start, end) in order, as its 96 packed values (per hour: expected
    energy, expected irradiation, observed energy, observed irradiation; NaN = no data): one
    Query of the day items (`page_size` a call), only their keys and hours read, nothing
    unpacked into objects."""
    for day, blob in _day_items(plant_id, start, end, page_size):
        yield day, _DAY.unpack(blob)


def exact_sums(points: Iterable[Datapoint]) -> Sums:
    """The sums of these hours, with the partials each lacks (so `Sums.of` stays exact)."""
    return _sums(dict(enumerate(points)))


def read_day_sums(plant_id: int, start: date, end: date) -> dict[date, Sums]:
    """Sums of every stored day in [start, end), from the month summaries."""
    _bind()
    result: dict[date, Sums] = {}
    if start >= end:
        return result
    last = end - timedelta(days=1)
    # not the month's totals: the days' are exact
    for item in _month_items_read(plant_id, start, last):
        period = item["period"]["S"]
        year, month = int(period[2:6]), int(period[7:9])
        values = _MONTH.unpack(item["days"]["B"])
        rest = _unpack_rest(_rest(item))
        for index in range(31):
            if values[5 * index] == 0:
                continue
            day = date(year, month, index + 1)
            if start <= day <= last:
                result[day] = _day_sums(values, rest, index)
    return result


def read_range_sums(plant_id: int, start: date, end: date) -> Sums:
    """`Sums.of(read_day_sums(plant_id, start, end).values())`, with the partials its totals lack
    (so that it adds exactly to other sums), without a `Sums` per day: each measure's day sums
    and partials are gathered column by column from the month summaries (an hour report's totals,
    read on each of its pages: 3,653 days for ten years)."""
    _bind()
    hours, columns = 0, ([], [], [], [])  # type: tuple[int, tuple[list[float], ...]]
    if start >= end:
        return Sums(0, 0.0, 0.0, 0.0, 0.0)
    last = end - timedelta(days=1)
    for item in _month_items_read(plant_id, start, last):
        period = item["period"]["S"]
        first = date(int(period[2:6]), int(period[7:9]), 1)
        lo, hi = max(0, (start - first).days), min(31, (last - first).days + 1)
        values, rest = _MONTH.unpack(item["days"]["B"]), _unpack_rest(_rest(item))
        present = values[5 * lo : 5 * hi : 5]  # hours per day; 0: no day (skipped, as read_day_sums does)
        hours += sum(map(int, present))
        for index, column in enumerate(columns):
            column.extend(compress(values[5 * lo + 1 + index : 5 * hi : 5], present))
            column.extend(chain.from_iterable(compress(rest[4 * lo + index : 4 * hi : 4], present)))
    ee, ei, oe, oi = (math.fsum(column) for column in columns)
    residuals = (residual(columns[0], ee), residual(columns[1], ei), residual(columns[2], oe),
                 residual(columns[3], oi))  # fmt: skip
    return Sums(hours, ee, ei, oe, oi, residuals)


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


def _period_end(period: str) -> date:
    """The exclusive end of an item's period, from its key (`D#YYYY-MM-DD` or `M#YYYY-MM`)."""
    if period.startswith("D#"):
        return date.fromisoformat(period[2:]) + timedelta(days=1)
    return _next_month(date.fromisoformat(period[2:] + "-01"))


def refresh_expiry(years: int, workers: int = 8) -> tuple[int, int]:
    """Give every item the `expires_at` of a `years` horizon (after SYNC_UNTIL_YEAR changed):
    a Scan of the keys and expiries, and an UpdateItem of each item whose expiry differs (one
    write unit each), conditional on the item still existing. Returns (items seen, updated)."""
    _bind()
    seen, stale = 0, []
    for item in _DayItem.scan(attributes_to_get=["plant_id", "period", "expires_at"]):
        seen += 1
        wanted = expires_at(_period_end(item.period), years)
        if item.expires_at != wanted:
            stale.append((item, wanted))

    def update(entry: tuple[_DayItem, int]) -> None:
        item, wanted = entry
        item.update(actions=[_DayItem.expires_at.set(wanted)], condition=_DayItem.period.exists())

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(update, stale))
    return seen, len(stale)
