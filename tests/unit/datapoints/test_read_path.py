"""The read path runs one way: each request enters read, compute and render once, in that order.

A profile of the calls made in the request's own thread (`sys.setprofile`; an hour report's totals
are read in another thread, in the read stage) lists the stages whose modules are entered,
consecutive entries of one stage as one: the read stage is `read` and the store queries it runs;
the shapes and arithmetic the stages share (`rows`, `sums`, `schemas`) count as their caller's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from types import FrameType
from typing import Any

import pytest

from powerfactor.datapoints import reports
from powerfactor.datapoints import store as datapoints
from powerfactor.datapoints.schemas import Datapoint
from powerfactor.plants import logic as plants
from tests.support import OWNER

pytestmark = pytest.mark.usefixtures("aws")

STAGES = {
    "powerfactor.datapoints.reports": "reports",
    "powerfactor.datapoints.read": "read",
    "powerfactor.datapoints.store": "read",
    "powerfactor.datapoints.compute": "compute",
    "powerfactor.datapoints.render": "render",
}
ONE_WAY = ["reports", "read", "compute", "render"]


def _entered(call: Callable[[], object]) -> list[str]:
    """The stages `call` enters, in order, repeats in a row as one."""
    seen: list[str] = []

    def profile(frame: FrameType, event: str, _: Any) -> None:
        stage = STAGES.get(frame.f_globals.get("__name__", ""))
        if event == "call" and stage is not None and (not seen or seen[-1] != stage):
            seen.append(stage)

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return seen


@pytest.fixture
def plant() -> int:
    plant_id = plants.create_plant(OWNER, "One way", capacity_kwp=8.0, timezone="Europe/Berlin").id
    start = datetime(2024, 3, 20, tzinfo=UTC)
    hours = [start + timedelta(hours=h) for h in range(24 * 20) if h % 97]  # a few hours missing
    datapoints.write_days(plant_id, [Datapoint(h, 1.5, 2.0, 1.25, 1.75) for h in hours])
    return plant_id


@pytest.mark.parametrize("granularity", ["hour", "day", "month"])
@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"])
@pytest.mark.parametrize("text", ["json", "csv"])
def test_a_report_reads_then_computes_then_renders(plant, granularity, tz, text) -> None:
    def request() -> None:
        page = reports.read_report(
            OWNER, plant, date(2024, 3, 22), date(2024, 4, 2), granularity, 50, None, tz
        )
        getattr(page, text)()

    assert _entered(request) == ONE_WAY


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata"])
def test_data_reads_then_computes_then_renders(plant, tz) -> None:
    first = reports.read_data(OWNER, plant, date(2024, 3, 22), date(2024, 4, 2), 100, None, tz)
    assert first.next_cursor is not None
    assert _entered(lambda: reports.read_data(OWNER, plant, date(2024, 3, 22), date(2024, 4, 2), 100,
                                              first.next_cursor, tz).json()) == ONE_WAY  # fmt: skip
