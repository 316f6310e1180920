"""The clock every capability shares: UTC days, hours, and the latest day anywhere on Earth."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
LATEST_OFFSET = timedelta(hours=14)  # UTC+14 (Kiribati): the earliest time zone to start a day


def utc_today() -> date:
    return datetime.now(UTC).date()


def today_somewhere() -> date:
    """The latest date anywhere on Earth: a day that is today for some plant."""
    return (datetime.now(UTC) + LATEST_OFFSET).date()
