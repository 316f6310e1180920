"""The revision log of stored hours: every change to a stored hour, with its old and new values,
when, what made it and why; and each hour's provenance (first stored, last changed, revisions).

A revision is one hour of a plant whose stored values changed: `changed` (replaced by other
values), `removed` (only by a re-sync with `remove_missing`, or a revert) or `restored` (an hour a
removal took away, stored again: by a later sync, or a revert). An hour stored where none ever
was (a backfill, yesterday's new day) is not a revision, and neither is a rewrite with the values
already stored (the daily sync fetches the last 7 days every day): the writer (datapoints.store)
reads the stored days first and writes only the days whose values differ.

Storage, in the datapoints table, the plant's partition, beside its day and month items:
- `R#<YYYY-MM-DD>#<changed_at>` (changed_at `YYYY-MM-DDTHH:MM:SS.ffffffZ`): one item per day and
  change, holding every hour of that day the change touched: `h` packs, per hour, its number,
  its kind and the old and new values (4 float64 each, NaN: none), 66 bytes an hour; `cause`
  (`daily`, `backfill`, `resync`, `revert`), `rs` (the re-sync's id, for `resync` and `revert`),
  `key` (the API key id of the person who asked for it), `why`. Keyed by the hour's day first,
  so the revisions of a range of history are one Query of a key range, in day order, then in the
  order they were made; and a revert finds all of a re-sync's revisions, and any later one of the
  same hours, in the Query of the re-sync's range. `expires_at` (the table's TTL) is
  `RevisionRetentionDays` after the change (never after the day itself expires).
  One item per day rather than per hour: a re-sync that corrects whole days writes one item of
  ~1.6 KB (2 write units) per day, not 24 items (24 units).
- The day item (`D#YYYY-MM-DD`) carries each hour's provenance: `f`, the epoch second every hour
  of the day was first stored (the usual day: a backfill writes it whole), or `fh`, 24 uint32
  when they differ; and, once a revision touched the day, `ch` (24 uint32, last changed) and `rv`
  (24 uint16, revisions). A removed hour keeps them (a tombstone: no values, `ch` set), so that
  storing it again is recorded as `restored`; a day left without hours is kept as such an item.
  `f` adds 7 bytes to a day item (still one write unit); provenance is read with the day items,
  at no extra read, and outlives the revisions' retention. 0 means unknown (stored before
  provenance was kept) or never.

Consistency: a day item and its revision item must never disagree, or a change could be lost.
The writer puts the days that have revisions, their revision items and their month's summary in
one TransactWriteItems per month (at most 31 days, 31 revisions and the summary: 63 of its 100
items): all or nothing. Transactions cost twice the write units, and only changed days use them;
days without a revision (new days) go in plain batches as before.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model
from pynamodb.pagination import ResultIterator

from powerfactor.aws import internals
from powerfactor.aws.tables import bind
from powerfactor.datapoints.points import Datapoint

Item = dict[str, dict[str, Any]]  # an item as DynamoDB's attribute values
Values = tuple[float, float, float, float]  # expected energy and irradiation, observed energy and irradiation
CauseKind = Literal["daily", "backfill", "resync", "revert"]
ChangeKind = Literal["changed", "removed", "restored"]
KINDS: tuple[ChangeKind, ...] = ("changed", "removed", "restored")

_HOURS = struct.Struct("<96d")  # a day item's packed hours (datapoints.store)
_STAMPS = struct.Struct("<24I")
_COUNTS = struct.Struct("<24H")
_CHANGE = struct.Struct("<BB8d")  # hour, kind, old values, new values
_NAN4 = (math.nan,) * 4
_PREFIX = "R#"
_STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"
_KEY = re.compile(r"R#\d{4}-\d{2}-\d{2}#\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


@dataclass(frozen=True)
class Cause:
    """What made a change: the sync's `daily` refresh (and missing days) or `backfill`, a
    `resync` or a `revert` of one (`resync_id`), the API key of whoever asked (`key_id`), and why."""

    kind: CauseKind
    resync_id: str | None = None
    key_id: str | None = None
    why: str = ""


@dataclass(frozen=True, slots=True)
class HourChange:
    hour: int  # 0-23, UTC
    kind: ChangeKind
    old: Values | None
    new: Values | None


@dataclass(frozen=True, slots=True)
class Revision:
    """A revision item: the changes one write made to one day."""

    key: str
    day: date
    changed_at: datetime
    cause: Cause
    changes: list[HourChange]


def values(p: Datapoint) -> Values:
    return (p.expected_energy, p.expected_irradiation, p.observed_energy, p.observed_irradiation)


# ---- provenance: on the day item -----------------------------------------------------------------


@dataclass
class DayProvenance:
    """Per hour of a day: when first stored, last changed, how many revisions (0: unknown/never)."""

    first: list[int] = field(default_factory=lambda: [0] * 24)
    changed: list[int] = field(default_factory=lambda: [0] * 24)
    count: list[int] = field(default_factory=lambda: [0] * 24)

    @classmethod
    def of(cls, item: Mapping[str, Any], present: list[bool]) -> DayProvenance:
        """A day item's provenance (`present`: which hours hold values)."""
        prov = cls()
        if "fh" in item:
            prov.first = list(_STAMPS.unpack(item["fh"]["B"]))
        elif "f" in item:
            first = int(item["f"]["N"])
            prov.first = [first if here else 0 for here in present]
        if "ch" in item:
            prov.changed = list(_STAMPS.unpack(item["ch"]["B"]))
            prov.count = list(_COUNTS.unpack(item["rv"]["B"])) if "rv" in item else [0] * 24
        return prov

    def tombstone(self, hour: int) -> bool:
        """Whether an hour without values was stored once (and removed)."""
        return self.changed[hour] != 0

    def attributes(self, present: list[bool]) -> Item:
        """The day item's provenance attributes (see the module docstring)."""
        attrs: Item = {}
        revised = any(self.changed)
        firsts = {f for f, here in zip(self.first, present, strict=True) if here}
        uniform = (
            len(firsts) == 1
            and 0 not in firsts
            and all(f == 0 for f, here in zip(self.first, present, strict=True) if not here)
        )
        if uniform and not revised:
            attrs["f"] = {"N": str(firsts.pop())}
        elif any(self.first):
            attrs["fh"] = {"B": _STAMPS.pack(*self.first)}
        if revised:
            attrs["ch"] = {"B": _STAMPS.pack(*self.changed)}
            attrs["rv"] = {"B": _COUNTS.pack(*(min(c, 65535) for c in self.count))}
        return attrs


def present_hours(blob: bytes) -> list[bool]:
    """Which of a day item's 24 hours hold values."""
    packed = _HOURS.unpack(blob)
    return [packed[4 * h] == packed[4 * h] for h in range(24)]


# ---- what a write changes ------------------------------------------------------------------------


@dataclass
class DayPlan:
    """A day as a write leaves it: its hours and provenance, the revisions it makes, and counts
    of what the write gave: `written` hours, of which `added` were not stored (nor removed
    before), and stored hours it left alone (`unconfirmed`, a re-sync's answer omitted them)."""

    hours: dict[int, Datapoint]
    provenance: DayProvenance
    changes: list[HourChange]
    written: int = 0
    added: int = 0
    unconfirmed: int = 0
    known_attributes: Item | None = None  # `attributes()`, when known beforehand (a new day)

    @property
    def dirty(self) -> bool:
        """Whether the day item must be written (a revision, or an hour stored for the first time)."""
        return bool(self.changes or self.added)

    def attributes(self) -> Item:
        """The day item's provenance attributes."""
        if self.known_attributes is not None:
            return self.known_attributes
        return self.provenance.attributes([h in self.hours for h in range(24)])


def plan_day(
    stored: dict[int, Datapoint],
    provenance: DayProvenance | None,
    edits: Mapping[int, Datapoint | None],
    *,
    replace: bool,
    now: int,
) -> DayPlan:
    """What writing `edits` (hour -> new values, None: remove the hour) to a stored day does.
    `replace`: hours the edits do not name are removed (a re-sync's `remove_missing`); else kept.
    Values equal to the stored ones change nothing (the stored bits are kept)."""
    prov = provenance or DayProvenance()
    prov = DayProvenance(list(prov.first), list(prov.changed), list(prov.count))
    hours = dict(stored)
    plan = DayPlan(hours, prov, [])
    for hour in sorted(set(edits) | (set(stored) if replace else set())):
        new = edits.get(hour)
        old = stored.get(hour)
        if new is not None:
            plan.written += 1
            if old is None:
                hours[hour] = new
                if prov.tombstone(hour):
                    plan.changes.append(HourChange(hour, "restored", None, values(new)))
                    prov.changed[hour], prov.count[hour] = now, prov.count[hour] + 1
                else:
                    plan.added += 1
                    prov.first[hour] = prov.first[hour] or now
            elif values(new) != values(old):
                hours[hour] = new
                plan.changes.append(HourChange(hour, "changed", values(old), values(new)))
                prov.changed[hour], prov.count[hour] = now, prov.count[hour] + 1
        elif old is not None:
            del hours[hour]
            plan.changes.append(HourChange(hour, "removed", values(old), None))
            prov.changed[hour], prov.count[hour] = now, prov.count[hour] + 1
    if not replace:
        plan.unconfirmed = sum(1 for hour in stored if hour not in edits)
    return plan


def new_day(hours: dict[int, Datapoint], now: int) -> DayPlan:
    """`plan_day` of a day nothing was ever stored in: every hour added, first stored now (the
    backfill's every day: kept cheap)."""
    first = [now] * 24 if len(hours) == 24 else [now if h in hours else 0 for h in range(24)]
    attributes: Item = {"f": {"N": str(now)}} if hours else {}
    return DayPlan(hours, DayProvenance(first=first), [], len(hours), len(hours), 0, attributes)


# ---- the revision items --------------------------------------------------------------------------


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime(_STAMP)


def revision_item(
    plant_id: int, day: date, changed_at: datetime, cause: Cause, changes: list[HourChange], expiry: int
) -> Item:
    """The revision item of these changes to one day (see the module docstring)."""
    packed = b"".join(
        _CHANGE.pack(c.hour, KINDS.index(c.kind), *(c.old or _NAN4), *(c.new or _NAN4)) for c in changes
    )
    item: Item = {
        "plant_id": {"N": str(plant_id)},
        "period": {"S": f"{_PREFIX}{day.isoformat()}#{stamp(changed_at)}"},
        "expires_at": {"N": str(expiry)},
        "cause": {"S": cause.kind},
        "why": {"S": cause.why or cause.kind},
        "h": {"B": packed},
    }
    if cause.resync_id:
        item["rs"] = {"S": cause.resync_id}
    if cause.key_id:
        item["key"] = {"S": cause.key_id}
    return item


def expiry(changed_at: datetime, retention_days: int, day_expiry: int) -> int:
    """A revision's TTL: `retention_days` after the change, never after its day's own expiry."""
    return min(int((changed_at + timedelta(days=retention_days)).timestamp()), day_expiry)


def _changes(blob: bytes) -> list[HourChange]:
    result = []
    for hour, kind, *numbers in _CHANGE.iter_unpack(blob):
        old, new = tuple(numbers[:4]), tuple(numbers[4:])
        result.append(
            HourChange(
                hour,
                KINDS[kind],
                None if math.isnan(old[0]) else old,
                None if math.isnan(new[0]) else new,
            )
        )
    return result


def parse(item: Mapping[str, Any]) -> Revision:
    key = item["period"]["S"]
    day, at = key[2:12], key[13:]
    cause = Cause(
        kind=item["cause"]["S"],
        resync_id=item["rs"]["S"] if "rs" in item else None,
        key_id=item["key"]["S"] if "key" in item else None,
        why=item["why"]["S"],
    )
    changed_at = datetime.strptime(at, _STAMP).replace(tzinfo=UTC)
    return Revision(key, date.fromisoformat(day), changed_at, cause, _changes(item["h"]["B"]))


def is_key(text: str) -> bool:
    """Whether `text` has the shape of a revision item's key (cursors hold one)."""
    return bool(_KEY.fullmatch(text))


# ---- reading -------------------------------------------------------------------------------------


class _LogItem(Model):
    """Any item of the datapoints table, for its connection (items are read raw)."""

    class Meta:
        table_name = "unbound"

    plant_id = NumberAttribute(hash_key=True)
    period = UnicodeAttribute(range_key=True)


def _bind() -> None:
    bind((_LogItem,), lambda settings: settings.datapoints_table)


def _query(
    plant_id: int,
    first: str,
    last: str,
    attributes: list[str] | None,
    page_size: int | None,
    consistent: bool,
) -> Iterator[Item]:
    _bind()
    return ResultIterator(
        internals.table_connection(_LogItem).query,
        (internals.hash_key(_LogItem, plant_id),),
        {
            "range_key_condition": _LogItem.period.between(first, last),
            "attributes_to_get": attributes,
            "limit": page_size,
            "consistent_read": consistent,
        },
    )


def read(
    plant_id: int,
    start: date,
    end: date,
    after: str | None = None,
    page_size: int | None = None,
    consistent: bool = False,
) -> Iterator[Revision]:
    """The revisions of the days [start, end), by day, then in the order they were made; only
    those whose key is at or after `after` (a key) if given."""
    if start >= end:
        return
    first = after or f"{_PREFIX}{start.isoformat()}"
    last = f"{_PREFIX}{(end - timedelta(days=1)).isoformat()}#~"
    for item in _query(plant_id, first, last, None, page_size, consistent):
        yield parse(item)


_PROVENANCE = ["period", "hours", "f", "fh", "ch", "rv"]


def read_provenance(plant_id: int, start: date, end: date) -> dict[date, DayProvenance]:
    """The provenance of every stored day of [start, end) (one Query of the day items)."""
    if start >= end:
        return {}
    last = f"D#{(end - timedelta(days=1)).isoformat()}"
    result = {}
    for item in _query(plant_id, f"D#{start.isoformat()}", last, _PROVENANCE, None, False):
        day = date.fromisoformat(item["period"]["S"][2:])
        result[day] = DayProvenance.of(item, present_hours(item["hours"]["B"]))
    return result


# ---- what a run revised, for its event -----------------------------------------------------------


@dataclass
class Revised:
    """The revisions one cause made: counts per kind and the days they span."""

    cause: Cause
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    first: date | None = None
    last: date | None = None

    def add(self, day: date, changes: list[HourChange]) -> None:
        for change in changes:
            self.counts[change.kind] += 1
        self.first = min(self.first or day, day)
        self.last = max(self.last or day, day)


class Tally:
    """The revisions a writer made, per cause."""

    def __init__(self) -> None:
        self.by_cause: dict[Cause, Revised] = {}

    def add(self, cause: Cause, day: date, changes: list[HourChange]) -> None:
        if changes:
            self.by_cause.setdefault(cause, Revised(cause)).add(day, changes)

    def take(self) -> list[Revised]:
        """What was revised since the last take."""
        revised, self.by_cause = list(self.by_cause.values()), {}
        return revised
