"""The history of stored hours, as the API shows it: a plant's revisions (GET .../revisions) and
each hour's provenance beside its values (GET /data?fields=provenance).

Revisions are listed for a range of whole UTC days (the days of the hours changed, both
inclusive), by day, then in the order the changes were made, then by hour, `limit` hours a page,
with the data routes' cursors (bound to plant and range; a position outside the range is a 400).

Provenance: the page `reports.read_data` reads, unchanged, and the provenance of its hours from
the same day items (revisions.read_provenance: a second Query, of the page's days only), written
as text from rows as render.py writes /data, with the provenance after each hour's values (tested
against the models byte for byte). Without `fields` the /data route never comes here: its bytes
are render.py's alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import chain

from powerfactor.access.principal import Principal
from powerfactor.datapoints import reports, revisions
from powerfactor.datapoints.render import DataRows, _numbers, _same_or_each, _splice, instant
from powerfactor.datapoints.schemas import (
    HourValues,
    Provenance,
    ProvenanceDataItem,
    ProvenanceDataPage,
    Reading,
    RevisionItem,
    RevisionPage,
)
from powerfactor.plants.logic import get_plant
from powerfactor.runtime import cursors
from powerfactor.runtime.errors import InvalidCursor, InvalidRange

DEFAULT_LIMIT = reports.DEFAULT_LIMIT
MAX_LIMIT = reports.MAX_LIMIT


# ---- revisions -----------------------------------------------------------------------------------


def _values(values: revisions.Values | None) -> HourValues | None:
    if values is None:
        return None
    ee, ei, oe, oi = values
    return HourValues(
        expected=Reading(energy=ee, irradiation=ei), observed=Reading(energy=oe, irradiation=oi)
    )


def _item(revision: revisions.Revision, change: revisions.HourChange) -> RevisionItem:
    day = revision.day
    return RevisionItem(
        hour=datetime(day.year, day.month, day.day, change.hour, tzinfo=UTC),
        kind=change.kind,
        changed_at=revision.changed_at,
        cause=revision.cause.kind,
        resync_id=revision.cause.resync_id,
        key_id=revision.cause.key_id,
        why=revision.cause.why,
        old=_values(change.old),
        new=_values(change.new),
    )


def _position(cursor: str, request: str, scope: str, start: date, last: date) -> tuple[str, int]:
    """A revisions cursor's position (a revision's key, an hour), if it lies in the range."""
    key, _, hour = cursors.decode(cursor, "revisions", request, scope).partition("|")
    inside = f"R#{start.isoformat()}" <= key <= f"R#{last.isoformat()}#~"
    if not (revisions.is_key(key) and inside and hour.isdigit() and int(hour) < 24):
        raise InvalidCursor()
    return key, int(hour)


def revision_page(
    principal: Principal,
    plant_id: int,
    start: date,
    last: date,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> RevisionPage:
    """The revisions of the hours of [start, last] (UTC days), `limit` hours a page."""
    if start > last:
        raise InvalidRange("`from` is after `to`")
    get_plant(principal, plant_id)  # PlantNotFound, also for a plant the caller does not reach
    request = f"{plant_id}/{start}/{last}"
    after, after_hour = _position(cursor, request, principal.scope_key, start, last) if cursor else (None, -1)
    items: list[RevisionItem] = []
    at: tuple[str, int] | None = None
    more = False
    page_size = min(limit // 24 + 2, 1000)  # a revision holds 1 to 24 hours; more calls if needed
    for revision in revisions.read(plant_id, start, last + timedelta(days=1), after, page_size):
        for change in revision.changes:
            if revision.key == after and change.hour <= after_hour:
                continue
            if len(items) == limit:
                more = True
                break
            items.append(_item(revision, change))
            at = (revision.key, change.hour)
        if more:
            break
    next_cursor = (
        cursors.encode("revisions", f"{at[0]}|{at[1]}", request, principal.scope_key) if more and at else None
    )
    return RevisionPage(plant_id=plant_id, from_=start, to=last, items=items, next_cursor=next_cursor)


# ---- provenance ----------------------------------------------------------------------------------

# per row: first stored, last changed (epoch seconds, 0: unknown or never) and revisions
Stamps = tuple[int, int, int]
_UNKNOWN: Stamps = (0, 0, 0)


def _iso(seconds: int) -> str:
    """An epoch second as pydantic writes a UTC datetime, `2026-01-02T01:30:00Z`; 0: empty."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds)) if seconds else ""


def _json_time(seconds: int) -> str:
    return f'"{_iso(seconds)}"' if seconds else "null"


def _time(seconds: int) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


@dataclass(frozen=True, slots=True)
class ProvenanceRows:
    """A page of stored hours (`DataRows`) and the provenance of each."""

    page: DataRows
    provenance: list[Stamps]

    @property
    def next_cursor(self) -> str | None:
        return self.page.next_cursor

    def model(self) -> ProvenanceDataPage:
        data = self.page.model()
        items = [
            ProvenanceDataItem(
                **item.model_dump(),
                provenance=Provenance(
                    first_stored=_time(first), last_changed=_time(changed), revisions=count
                ),
            )
            for item, (first, changed, count) in zip(data.items, self.provenance, strict=True)
        ]
        return ProvenanceDataPage(**{**data.model_dump(exclude={"items"}), "items": items})

    def json(self) -> str:
        """`self.model().model_dump_json()`, byte for byte (as `DataRows.json`, one field more)."""
        rows = self.page.rows
        numbers = _numbers(list(chain.from_iterable(row[2:] for row in rows)))
        walls, offsets = list(zip(*rows, strict=True))[:2] if rows else ((), ())
        firsts = [_json_time(first) for first, _, _ in self.provenance]
        changed = [_json_time(last) for _, last, _ in self.provenance]
        counts = [str(count) for _, _, count in self.provenance]
        pieces = (
            walls, _same_or_each(offsets, lambda off: off.json), '","expected":{"energy":', numbers[0::4],
            ',"irradiation":', numbers[1::4], '},"observed":{"energy":', numbers[2::4], ',"irradiation":',
            numbers[3::4], '},"provenance":{"first_stored":', firsts, ',"last_changed":', changed,
            ',"revisions":', counts, "}}",
        )  # fmt: skip
        page = self.page
        envelope = ProvenanceDataPage(
            plant_id=page.plant_id, tz=page.tz, from_=page.start, to=page.last, items=[],
            next_cursor=page.next_cursor,
        )  # fmt: skip
        return _splice(envelope.model_dump_json(), len(rows), '{"datetime":"', pieces)

    def csv(self) -> str:
        """`DataRows.csv` with three columns more (a null is empty)."""
        header, *lines = self.page.csv().splitlines()
        extra = [f"{_iso(first)},{_iso(changed)},{count}" for first, changed, count in self.provenance]
        rows = [f"{line},{more}\n" for line, more in zip(lines, extra, strict=True)]
        return "".join([f"{header},first_stored,last_changed,revisions\n", *rows])


def read_data(
    principal: Principal,
    plant_id: int,
    start: date,
    last: date,
    limit: int = reports.DEFAULT_LIMIT,
    cursor: str | None = None,
    tz: str | None = None,
) -> ProvenanceRows:
    """`reports.read_data`, and the provenance of each hour of the page."""
    page = reports.read_data(principal, plant_id, start, last, limit, cursor, tz)
    if not page.rows:
        return ProvenanceRows(page, [])
    hours = [instant(wall, off, UTC) for wall, off, *_ in page.rows]
    days = revisions.read_provenance(plant_id, hours[0].date(), hours[-1].date() + timedelta(days=1))
    stamps = []
    for hour in hours:
        day = days.get(hour.date())
        h = hour.hour
        stamps.append((day.first[h], day.changed[h], day.count[h]) if day else _UNKNOWN)
    return ProvenanceRows(page, stamps)
