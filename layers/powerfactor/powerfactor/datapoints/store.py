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
- `R#<day>#<changed_at>`: a revision, and the day item's provenance attributes (`f`, `fh`, `ch`,
  `rv`): the revision log, `powerfactor.datapoints.revisions`. A day whose hours were all removed
  stays as a day item without hours (`n` 0), for their provenance.

Writes go through `DayWriter`, which reads what is stored first and writes only what changes,
recording every change to a stored hour (revisions.py).

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
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from itertools import chain, compress
from typing import Any, cast

from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.models import Model
from pynamodb.pagination import ResultIterator

from powerfactor.aws import internals
from powerfactor.aws.tables import bind
from powerfactor.datapoints import revisions
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


def _day_item(
    plant_id: int,
    day: date,
    sums: Sums,
    hours: dict[int, Datapoint],
    years: int,
    provenance: Item | None = None,
) -> Item:
    item = _attrs(plant_id, _day_key(day), sums, expires_at(day + timedelta(days=1), years))
    item["hours"] = {"B": _pack(hours)}
    if provenance:
        item.update(provenance)
    return item


DAILY = revisions.Cause("daily", why="the monitoring service's answer differs from the stored hours")


def write_days(plant_id: int, points: Iterable[Datapoint], cause: revisions.Cause = DAILY) -> dict[date, int]:
    """Upsert these datapoints; return, for each day given, how many hours it now holds.

    Hours given overwrite the stored ones; stored hours not given are kept, so a response that
    lacks an hour never erases it. Only the days whose hours change are written, with the
    summaries of their months, and every change to a stored hour is recorded as a revision of
    this `cause` (`DayWriter`). A run of many writes to one plant uses one `DayWriter`, which
    fills its batches.
    """
    writer = DayWriter(plant_id, cause)
    counts = writer.write(points)
    writer.flush()
    return counts


_Month = tuple[list[float], list[tuple[float, ...]]]  # a month summary's days and partials


class _Stored:
    """A stored day as the writer knows it: its packed hours and their provenance (decoded from
    the item's attributes when first asked for: an unchanged day never needs it)."""

    __slots__ = ("_attributes", "_provenance", "blob")

    def __init__(self, blob: bytes, provenance: revisions.DayProvenance | Item) -> None:
        self.blob = blob
        self._provenance = provenance if isinstance(provenance, revisions.DayProvenance) else None
        self._attributes = provenance if isinstance(provenance, dict) else None

    @property
    def provenance(self) -> revisions.DayProvenance:
        if self._provenance is None:
            self._provenance = revisions.DayProvenance.of(
                self._attributes or {}, revisions.present_hours(self.blob)
            )
        return self._provenance


class DayWriter:
    """The writer of one plant's days (a sync's chunks, a re-sync, a revert), and of the revision
    log of what it changes (powerfactor.datapoints.revisions).

    Before writing a day it knows what is stored: `expect(start, end)` reads a range's days in one
    strongly consistent Query up front (a sync run expects the ranges it is about to fetch: for a
    new plant's backfill a year of nothing, one read unit), and a write of days it does not know
    yet reads them first (one Query of their span). Then only what changes is written: a day whose
    values are all the same is not written at all (the daily sync fetches the last 7 days again
    every day), a day with new hours only goes in the batches below, and a day whose stored values
    change, with its revision item and its month's summary, goes in one transaction per month
    (revisions.py, "Consistency"). `cause` (changeable between writes: a run's refresh, then its
    backfill) is recorded with each revision; `tally` counts them for the run's event.

    Batches: each write sends its items 25 to a call, except a last partial batch, which waits
    for the next write's items (a backfill month is 32 items: ten years take 152 calls instead of
    241). `flush` sends what waits: the caller flushes before it records anything as stored.
    Before sending a key already waiting, or a transaction, the writer flushes itself, so no call
    holds a key twice and a transaction never overtakes a batch. It reads only days and month
    summaries it has not written (strongly consistent): its own view of what it wrote, held back
    or not, answers its later writes. One plant's writes come from one writer at a time (the
    plant's sync lease).

    Days and month summaries go in batches sent side by side: a run that failed between them
    may leave a day without its month entry. A later write of that day, unchanged, does not
    write the day, but compares its entry and rewrites the summary if it disagrees
    (`_month_repairs`), as rewriting every fetched day used to repair it.
    """

    def __init__(self, plant_id: int, cause: revisions.Cause = DAILY) -> None:
        self.plant_id = plant_id
        self.cause = cause
        self.tally = revisions.Tally()
        self._waiting: list[Item] = []
        self._stored: dict[date, _Stored | None] = {}  # None: known to hold nothing
        self._months: dict[date, _Month | None] = {}  # summaries read or written; None: none stored
        self._last_change: datetime | None = None
        # Raw puts written in each revised month's transaction, given the month and the hours it
        # changes there: a revert's audit entry (powerfactor.access.audit_store.transact_put).
        self.audit: Callable[[date, int], list[dict[str, Any]]] | None = None

    def expect(self, start: date, end: date) -> None:
        """Read the stored days of [start, end) now (one Query), for the writes to come."""
        unknown = [day for day in _days_of(start, end) if day not in self._stored]
        if unknown:
            self._read(unknown)

    def stored(self, day: date) -> dict[int, Datapoint]:
        """The hours of a day as stored (after this writer's writes; read if unknown)."""
        if day not in self._stored:
            self._read([day])
        known = self._stored[day]
        return _unpack(day, known.blob) if known else {}

    def write(self, points: Iterable[Datapoint]) -> dict[date, int]:
        """Write these datapoints (stored hours they lack are kept); each day's hours afterwards.
        Its last partial batch is kept back for the next write."""
        by_day: dict[date, dict[int, Datapoint | None]] = {}
        for p in points:
            by_day.setdefault(p.hour.date(), {})[p.hour.hour] = p
        plans = self._apply(by_day, replace=False)
        return {day: len(plan.hours) for day, plan in plans.items()}

    def resync(
        self,
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
        `unconfirmed`, unless `remove_missing`: then they are removed (a day left with none stays
        as an item without hours, which keeps their provenance) and counted `removed`. Only days
        whose hours change are written; `dry_run` writes nothing. Everything is sent before it
        returns."""
        answer: dict[date, dict[int, Datapoint | None]] = {day: {} for day in _days_of(start, end)}
        for p in points:
            if start <= p.hour.date() < end:
                answer[p.hour.date()][p.hour.hour] = p
        self.expect(start, end)
        plans = self._apply(answer, replace=remove_missing, dry_run=dry_run)
        self.flush()
        result = {}
        for day, plan in plans.items():
            kinds = {kind: sum(1 for c in plan.changes if c.kind == kind) for kind in revisions.KINDS}
            counts = ResyncCounts(
                written=plan.written,
                added=plan.added + kinds["restored"],
                changed=kinds["changed"],
                removed=kinds["removed"],
                unconfirmed=plan.unconfirmed,
            )
            result[day] = (counts, len(plan.hours))
        return result

    def apply(self, edits: dict[date, dict[int, Datapoint | None]]) -> dict[date, revisions.DayPlan]:
        """Set these hours of these days (None: remove the hour), other hours kept; what each day
        became. Everything is sent before it returns."""
        plans = self._apply(edits, replace=False)
        self.flush()
        return plans

    def flush(self) -> None:
        """Send the items still waiting (at most a batch)."""
        waiting, self._waiting = self._waiting, []
        _batch_write(waiting)

    def _now(self) -> datetime:
        """This write's time, later than the writer's previous one (revision keys never collide)."""
        now = datetime.now(UTC)
        if self._last_change is not None and now <= self._last_change:
            now = self._last_change + timedelta(microseconds=1)
        self._last_change = now
        return now

    def _read(self, days: list[date]) -> None:
        """Learn what is stored for these days (a strongly consistent Query of their span)."""
        first, last = min(days), max(days)
        found = dict(_stored_days(self.plant_id, first, last + timedelta(days=1)))
        for day in _days_of(first, last + timedelta(days=1)):
            if day not in self._stored:
                self._stored[day] = found.get(day)

    def _apply(
        self, edits: dict[date, dict[int, Datapoint | None]], *, replace: bool, dry_run: bool = False
    ) -> dict[date, revisions.DayPlan]:
        unknown = [day for day in edits if day not in self._stored]
        if unknown:
            self._read(unknown)
        changed_at = self._now()
        now = int(changed_at.timestamp())
        plans = {}
        for day, hours in edits.items():
            known = self._stored[day]
            if known is None and None not in hours.values():
                plans[day] = revisions.new_day(cast(dict[int, Datapoint], hours), now)
            elif known is not None and not replace and _same(hours, known.blob):
                # the usual refreshed day: the very values stored, nothing to compare hour by hour
                plans[day] = revisions.DayPlan(
                    cast(dict[int, Datapoint], hours), known.provenance, [], len(hours)
                )
            else:
                stored = _unpack(day, known.blob) if known else {}
                provenance = known.provenance if known else None
                plans[day] = revisions.plan_day(stored, provenance, hours, replace=replace, now=now)
        if not dry_run:
            dirty = {day: plan for day, plan in plans.items() if plan.dirty}
            self._commit(dirty, self._month_repairs(plans, dirty), changed_at)
        return plans

    def _month_repairs(
        self, plans: dict[date, revisions.DayPlan], dirty: dict[date, revisions.DayPlan]
    ) -> dict[date, Sums]:
        """The sums of the stored days left as they are whose month summary disagrees with them.

        A day and its month summary are not written at once (two batches, sent side by side):
        a run that failed between the two left a day without its entry, and the day, fetched
        again unchanged, is not written again. Its entry is then written (not the day). The
        summaries are read for it, with those of the months about to be written in part.
        """
        quiet = {
            day: plan for day, plan in plans.items() if day not in dirty and self._stored[day] is not None
        }
        self._load_months({day.replace(day=1) for day in quiet} | set(_partial_months(dirty)))
        repairs = {}
        for day, plan in quiet.items():
            sums = _sums(plan.hours)
            month = self._months[day.replace(day=1)]
            entry = month[0][5 * (day.day - 1) : 5 * day.day] if month else [0.0] * 5
            if entry != [sums.hours, sums.expected_energy, sums.expected_irradiation, sums.observed_energy,
                         sums.observed_irradiation]:  # fmt: skip
                repairs[day] = sums
        return repairs

    def _load_months(self, months: set[date]) -> None:
        """Learn the stored summaries of these months (one strongly consistent BatchGetItem)."""
        unknown = sorted(month for month in months if month not in self._months)
        if not unknown:
            return
        found = {
            item.period: (list(_MONTH.unpack(item.days)), _unpack_rest(item.rest))
            for item in _MonthItem.batch_get(
                [(self.plant_id, _month_key(m)) for m in unknown],
                consistent_read=True,
                attributes_to_get=["period", "days", "rest"],
            )
        }
        for month in unknown:
            self._months[month] = found.get(_month_key(month))

    def _summaries(self, sums: dict[date, Sums], years: int) -> list[Item]:
        """`_month_items` from the summaries the writer knows (read, or as it last wrote them)."""
        partial = _partial_months(sums)
        self._load_months(set(partial))
        known = {  # copies: _month_items merges into them
            _month_key(month): (list(state[0]), list(state[1]))
            for month in partial
            if (state := self._months[month]) is not None
        }
        items = _month_items(self.plant_id, sums, years, known)
        for item in items:
            month = date.fromisoformat(item["period"]["S"][2:] + "-01")
            self._months[month] = (list(_MONTH.unpack(item["days"]["B"])), _unpack_rest(item["rest"]["B"]))
        return items

    def _commit(
        self, plans: dict[date, revisions.DayPlan], repairs: dict[date, Sums], changed_at: datetime
    ) -> None:
        """Write these days, and the month entries of `repairs`: the revised days by month in
        transactions, the others in batches."""
        if not plans and not repairs:
            return
        settings = get_settings()
        years = settings.sync_until_year
        sums = {day: _sums(plan.hours) for day, plan in plans.items()}
        items = {}
        for day, plan in plans.items():
            items[day] = _day_item(self.plant_id, day, sums[day], plan.hours, years, plan.attributes())
        entries = {**repairs, **sums}  # what the month summaries get
        revised = sorted({day.replace(day=1) for day, plan in plans.items() if plan.changes})
        plain = {day: s for day, s in entries.items() if day.replace(day=1) not in revised}
        if plain:
            self._put([*(items[day] for day in plain if day in items), *self._summaries(plain, years)])
        for month in revised:
            self.flush()
            days = {day: s for day, s in entries.items() if day.replace(day=1) == month}
            logged = [
                revisions.revision_item(
                    self.plant_id, day, changed_at, self.cause, plans[day].changes,
                    revisions.expiry(changed_at, settings.revision_retention_days,
                                     expires_at(day + timedelta(days=1), years)),
                )
                for day in days if day in plans and plans[day].changes
            ]  # fmt: skip
            hours = sum(len(plans[day].changes) for day in days if day in plans)
            extra = self.audit(month, hours) if self.audit is not None else []
            _transact(
                [*(items[day] for day in days if day in items), *logged, *self._summaries(days, years)], extra
            )
        for day, plan in plans.items():
            self._stored[day] = _Stored(items[day]["hours"]["B"], plan.provenance)
            self.tally.add(self.cause, day, plan.changes)

    def _put(self, items: list[Item]) -> None:
        """Send these items in full batches; keep a last partial one back for the next write."""
        if self._waiting:
            waiting = {item["period"]["S"] for item in self._waiting}
            if any(item["period"]["S"] in waiting for item in items):
                self.flush()
        items = self._waiting + items
        full = len(items) - len(items) % _BATCH
        _batch_write(items[:full])
        self._waiting = items[full:]


def _same(hours: dict[int, Datapoint | None], blob: bytes) -> bool:
    """Whether these 24 hours are exactly the day stored as `blob` (bit for bit)."""
    return (
        len(hours) == 24 and None not in hours.values() and _pack(cast(dict[int, Datapoint], hours)) == blob
    )


def resync_days(
    plant_id: int,
    start: date,
    end: date,
    points: Iterable[Datapoint],
    *,
    remove_missing: bool = False,
    dry_run: bool = False,
    cause: revisions.Cause = DAILY,
) -> dict[date, tuple[ResyncCounts, int]]:
    """`DayWriter.resync` of one range by a writer of its own."""
    writer = DayWriter(plant_id, cause)
    return writer.resync(start, end, points, remove_missing=remove_missing, dry_run=dry_run)


def _days_of(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


_STORED = ["period", "hours", "f", "fh", "ch", "rv"]  # a day item's hours and their provenance


def _stored_days(plant_id: int, start: date, end: date) -> Iterator[tuple[date, _Stored]]:
    """The stored days of [start, end) with their provenance, read strongly consistent (what a
    writer compares its new values with must be the last write's)."""
    _bind()
    items: Iterator[Item] = ResultIterator(
        internals.table_connection(_DayItem).query,
        (internals.hash_key(_DayItem, plant_id),),
        {
            "range_key_condition": _DayItem.period.between(
                _day_key(start), _day_key(end - timedelta(days=1))
            ),
            "attributes_to_get": _STORED,
            "consistent_read": True,
        },
    )
    for item in items:
        blob = item["hours"]["B"]
        day = date.fromisoformat(item["period"]["S"][2:])
        yield day, _Stored(blob, item)


def _transact(items: list[Item], extra: list[dict[str, Any]] | None = None) -> None:
    """Put these items all or none (TransactWriteItems: at most 100, each at twice the write
    units), with `extra` raw puts of other tables (their TableName, Item and condition)."""
    connection = internals.low_level_connection(_DayItem)
    table = _DayItem.Meta.table_name
    connection.transact_write_items(
        condition_check_items=[],
        delete_items=[],
        put_items=[{"TableName": table, "Item": item} for item in items] + (extra or []),
        update_items=[],
        client_request_token=uuid.uuid4().hex,
    )


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


def _month_items(
    plant_id: int, days: dict[date, Sums], years: int, stored: dict[str, _Month] | None = None
) -> list[Item]:
    """The summaries of the months these days fall in, with these days' sums put in.

    A month the days cover completely (a backfill month) is built from them alone; any other
    keeps the other days of its summary in `stored` (by key; a writer's, which it mutates),
    else of the stored one (read first, one BatchGetItem).
    """
    months: dict[date, dict[int, Sums]] = {}
    for day, sums in days.items():
        months.setdefault(day.replace(day=1), {})[day.day] = sums
    partial = _partial_months(days)
    if stored is None:
        stored = {
            item.period: (list(_MONTH.unpack(item.days)), _unpack_rest(item.rest))
            for item in (
                _MonthItem.batch_get([(plant_id, _month_key(m)) for m in partial]) if partial else []
            )
        }
    stored = {_month_key(m): stored[_month_key(m)] for m in partial if _month_key(m) in stored}
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
        if item.period.startswith("R#"):
            continue  # a revision expires with the retention it was written with (datapoints.revisions)
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
