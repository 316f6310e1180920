"""The read path's first stage: the stored items a page needs, read once, before anything of the
page is computed (`reports` runs the stages; `rows.py` holds what they hand on).

- /data and hour reports: the day items that hold the page's hours and the one after them (it
  says whether there is more): one Query from the page's first hour, `limit // 24 + 3` days a call,
  that stops asking once the days read hold them. An hour report's totals (the whole range, on
  every page) are read beside it, in another thread: the month summaries (~120 items for ten
  years) and the partial UTC days at either end.
- Day and month reports in UTC: the month summaries of the range (120 items for ten years).
- Day and month reports in another zone: every day item of the range (local days split UTC days).
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

from powerfactor.datapoints import store
from powerfactor.datapoints.rows import DayValues, Request, Stored
from powerfactor.datapoints.sums import Sums
from powerfactor.runtime.clock import DAY, HOUR, day_after, hours_of


def page(request: Request) -> Stored:
    """What `request`'s page is computed from (see the module's docstring)."""
    if request.granularity is None:
        return Stored(days=_hour_page(request.plant_id, request.begin, request.end, request.limit + 1))
    if request.granularity == "hour":
        totals = _beside(_range_totals, request.plant_id, request.first, request.end)  # beside the hours
        days = _hour_page(request.plant_id, request.begin, request.end, request.limit + 1)
        return Stored(days=days, totals=totals.result())
    if request.zone is UTC:
        return Stored(day_sums=store.read_day_sums(request.plant_id, request.start, request.last + DAY))
    first, end = request.first, request.end
    return Stored(days=list(store.read_day_values(request.plant_id, first.date(), day_after(end))))


def _hour_page(plant_id: int, begin: datetime, end: datetime, hours: int) -> list[DayValues]:
    """The stored days that hold the first `hours` stored hours of [begin, end) (an hour is in if its
    start is), in order: the days the Query asks for, `hours // 24 + 3` a call, are those the
    hours need if the days are whole (and one more); more calls follow only where days lack hours."""
    days: list[DayValues] = []
    found = 0
    first_day, last_day = begin.date(), (end - HOUR).date()
    for day, values in store.read_day_values(plant_id, first_day, day_after(end), hours // 24 + 3):
        days.append((day, values))
        lo, hi = hours_of(day, begin, end) if day in (first_day, last_day) else (0, 24)
        if lo < hi:
            expected = values[4 * lo : 4 * hi : 4]
            present = sum(expected)  # NaN if an hour is missing
            found += len(expected) if present == present else sum(x == x for x in expected)
            if found >= hours:
                break
    return days


def _range_totals(plant_id: int, first: datetime, end: datetime) -> Sums:
    """Exact sums of the hours in [first, end): whole UTC days from the month summaries, the
    partial days at either end from their day items."""
    inner_start = first.date() if first.hour == 0 else first.date() + DAY
    inner_end = end.date()  # exclusive: the day `end` falls in is partial (or outside)
    parts = [store.read_range_sums(plant_id, inner_start, inner_end)]
    edges = sorted({d.date() for d in (first, end) if d.hour != 0})
    points = [p for day in edges for p in store.read_hours(plant_id, day, day + DAY) if first <= p.hour < end]
    if points:
        parts.append(store.exact_sums(points))
    return Sums.of(parts)


@functools.cache
def _helpers() -> ThreadPoolExecutor:
    """Threads that run a read beside the request's own, started once per process."""
    return ThreadPoolExecutor(2, thread_name_prefix="report-read")


def _beside[T](read: Callable[..., T], *args: object) -> Future[T]:
    """Start `read(*args)` in another thread, in this request's context (its storage deadline):
    an hour report's totals are read while the page's hours are; the page waits for the slower
    of the two."""
    return _helpers().submit(contextvars.copy_context().run, read, *args)
