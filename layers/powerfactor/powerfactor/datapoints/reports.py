"""The read side: a plant's stored hours, and reports summed by hour, day or month.

Days, buckets and timestamps are those of a time zone, `tz`: `UTC`, `local` (the plant's
`timezone`) or an IANA name; by default the plant's time zone if it has one, else UTC. `from`
and `to` are whole days of that zone, both inclusive. An hour belongs to the local day, month
and hour its start falls in, so a day with a DST change has 23 or 25 hours (`hours_total`), the
repeated hour appears twice with its two offsets, and in a half-hour zone (Asia/Kolkata) hours
start at :30 local time.

A request runs three stages, once each, in this order: this module resolves it (the plant, the
zone, the range as UTC hours, the cursor's position: `rows.Request`), then `read.page` reads what
the page needs (storage stays UTC: one item per UTC day, month summaries), `compute` makes the
page's rows, buckets and totals of those values, and the handler writes them as text
(`render`; the rows and what the stages hand on: `rows.py`). Large results are paginated with a
cursor, so no response nears API Gateway's 6 MB limit.

KPIs (per bucket and for the totals) when the plant has `capacity_kwp` (P0, kWp), else null:
specific yield E/P0 (kWh/kWp, observed and expected energy); performance ratio per IEC 61724-1,
(E/P0) / (H/G_stc) with E the observed energy (kWh), H the observed in-plane irradiation in
kWh/m² (the service's Wh/m² per hour / 1000) and G_stc = 1 kW/m²; null where H is 0.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import overload
from zoneinfo import ZoneInfo

from powerfactor.access.principal import Principal
from powerfactor.datapoints import compute, read
from powerfactor.datapoints.render import DataRows, ReportRows
from powerfactor.datapoints.rows import Request
from powerfactor.datapoints.schemas import DataPage, Granularity, ReportPage
from powerfactor.plants.logic import get_plant
from powerfactor.plants.schemas import Plant, iana_zone
from powerfactor.runtime import cursors
from powerfactor.runtime.clock import DAY, HOUR, hour_range
from powerfactor.runtime.errors import InvalidCursor, InvalidRange, NoTimeZone

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000  # 10,000 hours of data is about 1.6 MB of JSON
_HOUR_CURSOR = "%Y-%m-%dT%H:00Z"  # an hour report's cursor: the UTC start of its last bucket


@overload
def check_tz(value: str) -> str: ...
@overload
def check_tz(value: None) -> None: ...
def check_tz(value: str | None) -> str | None:
    """A `tz` parameter: `UTC`, `local` or an IANA name (ValueError else)."""
    if value is None or value in ("UTC", "local"):
        return value
    return iana_zone(value)


def _zone(tz: str | None, plant: Plant) -> tuple[str, tzinfo]:
    """The name and tzinfo `tz` means for this plant (datetime.UTC for `UTC`: the fast path)."""
    if tz == "local" and plant.timezone is None:
        raise NoTimeZone(f"plant {plant.id} has no time zone; set one (PATCH) or pass tz=UTC or an IANA name")
    name = (plant.timezone or "UTC") if tz in (None, "local") else check_tz(tz)
    return name, (UTC if name == "UTC" else ZoneInfo(name))


def _load(
    principal: Principal, plant_id: int, start: date, last: date, tz: str | None
) -> tuple[Plant, str, tzinfo]:
    if start > last:
        raise InvalidRange("`from` is after `to`")
    plant = get_plant(principal, plant_id)  # PlantNotFound for an unknown plant, or one not the caller's
    return plant, *_zone(tz, plant)


def _parse_after(after: str, pattern: str) -> datetime:
    """The position a cursor holds; InvalidCursor if it is not one this API wrote."""
    try:
        return datetime.strptime(after, pattern)
    except ValueError:
        raise InvalidCursor() from None


def _instant_after(after: datetime, first: datetime, end: datetime) -> datetime:
    """A data or hour cursor's position as a UTC instant, if it lies in [first, end), the UTC hours
    of the request's days (a cursor this API wrote always does); InvalidCursor else.

    Cursors are not secret, so one can be forged with any position: its wall-clock day is checked
    first, by comparison alone, because converting a time at the calendar's edge (year 1 or 9999
    with an offset) overflows (OverflowError) before any later check could refuse it.
    """
    if after.tzinfo is None or not (first.date() - DAY * 2 <= after.date() <= end.date() + DAY):
        raise InvalidCursor()
    instant = after.astimezone(UTC)
    if not first <= instant < end:
        raise InvalidCursor()
    return instant


def _period_after(after: str, granularity: Granularity, start: date, last: date) -> str:
    """A day or month report cursor's period (its one spelling), if it lies in [start, last];
    InvalidCursor else (see _instant_after)."""
    pattern = "%Y-%m-%d" if granularity == "day" else "%Y-%m"
    day = _parse_after(after, pattern).date()
    lowest = start if granularity == "day" else start.replace(day=1)
    if not lowest <= day <= last:
        raise InvalidCursor()
    return day.isoformat() if granularity == "day" else f"{day:%Y-%m}"


def _request(plant_id: int, start: date, last: date, zone: str) -> str:
    """What a data or report cursor is bound to."""
    base = f"{plant_id}/{start}/{last}"
    return base if zone == "UTC" else f"{base}/{zone}"


def read_data(
    principal: Principal,
    plant_id: int,
    start: date,
    last: date,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    tz: str | None = None,
) -> DataRows:
    """Stored hours of [start, last] (whole days of the zone), `limit` per page."""
    _, name, zone = _load(principal, plant_id, start, last, tz)
    bound = _request(plant_id, start, last, name)
    first, end = hour_range(start, last, zone)
    begin = first
    if cursor:
        position = _parse_after(
            cursors.decode(cursor, "data", bound, principal.scope_key), "%Y-%m-%dT%H:%M:%S%z"
        )
        begin = _instant_after(position, first, end) + HOUR
    request = Request(plant_id, None, zone, start, last, first, end, begin, None, limit)
    stored = read.page(request)  # 1. read
    rows, more = compute.data_rows(request, stored)  # 2. compute
    next_cursor = (
        cursors.encode("data", rows[-1][0] + rows[-1][1].iso, bound, principal.scope_key) if more else None
    )
    return DataRows(plant_id, name, zone, start, last, rows, next_cursor)  # 3. render: the handler's


def data_page(
    principal: Principal,
    plant_id: int,
    start: date,
    last: date,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    tz: str | None = None,
) -> DataPage:
    """`read_data` as the page model."""
    return read_data(principal, plant_id, start, last, limit, cursor, tz).model()


def read_report(
    principal: Principal,
    plant_id: int,
    start: date,
    last: date,
    granularity: Granularity = "day",
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    tz: str | None = None,
) -> ReportRows:
    """Sums of [start, last] (whole days of the zone) by hour, day or month, `limit` buckets per page."""
    plant, name, zone = _load(principal, plant_id, start, last, tz)
    bound = _request(plant_id, start, last, name)
    after = cursors.decode(cursor, granularity, bound, principal.scope_key) if cursor else None
    first, end = hour_range(start, last, zone)
    begin = first
    if after is not None and granularity == "hour":
        begin = _instant_after(_parse_after(after, _HOUR_CURSOR).replace(tzinfo=UTC), first, end) + HOUR
        after = None
    elif after is not None:  # checked, in the one spelling periods have
        after = _period_after(after, granularity, start, last)
    capacity = plant.capacity_kwp
    request = Request(plant_id, granularity, zone, start, last, first, end, begin, after, limit, capacity)
    stored = read.page(request)  # 1. read
    page = compute.report(request, stored)  # 2. compute
    next_cursor = None
    if page.more:
        period, wall, off = page.items[-1][:3]
        if granularity == "hour":  # the UTC start of the last bucket
            period = datetime.fromisoformat(wall + off.iso).astimezone(UTC).strftime(_HOUR_CURSOR)
        next_cursor = cursors.encode(granularity, period, bound, principal.scope_key)
    return ReportRows(  # 3. render: the handler's
        plant_id, name, zone, start, last, granularity, capacity, page.items, page.totals, next_cursor,
        page.figures,
    )  # fmt: skip


def report(
    principal: Principal,
    plant_id: int,
    start: date,
    last: date,
    granularity: Granularity = "day",
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    tz: str | None = None,
) -> ReportPage:
    """`read_report` as the page model."""
    return read_report(principal, plant_id, start, last, granularity, limit, cursor, tz).model()
