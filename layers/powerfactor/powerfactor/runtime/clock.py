"""The clock every capability shares: UTC days, hours, a zone's days as UTC hours, and the latest
day anywhere on Earth."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
LATEST_OFFSET = timedelta(hours=14)  # UTC+14 (Kiribati): the earliest time zone to start a day


def utc_today() -> date:
    return datetime.now(UTC).date()


def today_somewhere() -> date:
    """The latest date anywhere on Earth: a day that is today for some plant."""
    return (datetime.now(UTC) + LATEST_OFFSET).date()


def midnight(day: date) -> datetime:
    """The UTC instant a UTC day begins."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def hours_of(day: date, begin: datetime, end: datetime) -> tuple[int, int]:
    """[lo, hi): the hours of a UTC day (0-24) that start in [begin, end); lo >= hi if none."""
    start = midnight(day)
    return max(0, (begin - start) // HOUR), min(24, (end - start) // HOUR)


def utc_start(day: date, zone: tzinfo) -> datetime:
    """The instant the zone's day begins (a midnight skipped by a DST change: the change)."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def hour_ceil(instant: datetime) -> datetime:
    """The first UTC hour start at or after `instant`."""
    floor = instant.replace(minute=0, second=0, microsecond=0)
    return floor if floor == instant else floor + HOUR


def hours_between(a: datetime, b: datetime) -> int:
    """How many UTC hours start in [a, b)."""
    return max(0, int((hour_ceil(b) - hour_ceil(a)) / HOUR))


def hour_range(start: date, last: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """[first, end): the UTC hour starts of the zone's days [start, last]."""
    return hour_ceil(utc_start(start, zone)), hour_ceil(utc_start(last + DAY, zone))


def day_after(end: datetime) -> date:
    """The exclusive end, in UTC days, of the UTC days that hold hours before `end`."""
    return (end - HOUR).date() + DAY
