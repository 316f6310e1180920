"""Ten years of hourly data against DynamoDB Local: every response stays far below 6 MB."""

from __future__ import annotations

import json
import math
from datetime import date

import pytest

from powerfactor.datapoints import store as datapoints
from powerfactor.plants import logic as plants
from tests.support import OWNER, simulated

pytestmark = pytest.mark.usefixtures("local_aws")

BASE = "/api/solar-plant"
LAMBDA_LIMIT = 6 * 1024 * 1024
START, END = date(2015, 1, 1), date(2025, 1, 1)


@pytest.fixture
def ten_years() -> int:
    plant_id = plants.create_plant(OWNER, "Decade").id
    datapoints.write_days(plant_id, simulated(plant_id, START, END))
    return plant_id


def walk(api, url: str) -> tuple[list[dict], int, int]:
    """All items of a paginated endpoint, the number of pages and the largest response in bytes."""
    items, pages, largest, cursor = [], 0, 0, None
    while True:
        status, _, body = api("GET", url + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200, body
        largest = max(largest, len(json.dumps(body)))
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages, largest


def test_ten_years_of_data_and_reports_paginate_under_the_limit(api, ten_years) -> None:
    query = f"plant-id={ten_years}&from=2015-01-01&to=2024-12-31"
    hours, pages, largest = walk(api, f"{BASE}/data/?{query}&limit=10000")
    assert len(hours) == 87_672 and pages == 9 and largest < LAMBDA_LIMIT / 3
    days, _, largest_days = walk(api, f"{BASE}/report/?{query}&granularity=day&limit=10000")
    assert len(days) == 3653 and largest_days < LAMBDA_LIMIT / 3
    status, _, months = api("GET", f"{BASE}/report/?{query}&granularity=month")
    assert status == 200 and len(months["items"]) == 120 and months["next_cursor"] is None
    truth = simulated(ten_years, START, END)
    assert months["totals"]["hours_present"] == len(truth)
    assert months["totals"]["energy"]["observed"] == round(math.fsum(p.observed_energy for p in truth), 6)
    assert months["totals"]["irradiation"]["expected"] == round(
        math.fsum(p.expected_irradiation for p in truth), 6
    )


def test_ten_years_by_local_day_are_exact(api, ten_years) -> None:
    """Berlin days and months over ten years (20 DST changes): one page each, hours_total of 23
    and 25 on the change days, and the totals the exact sum of the hours in the local range."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    query = f"plant-id={ten_years}&from=2015-01-01&to=2024-12-31&tz=Europe/Berlin"
    status, _, days = api("GET", f"{BASE}/report/?{query}&granularity=day&limit=10000")
    assert status == 200 and days["next_cursor"] is None and len(days["items"]) == 3653
    totals = {b["hours_total"] for b in days["items"]}
    assert totals == {23, 24, 25}
    assert sum(b["hours_total"] == 23 for b in days["items"]) == 10
    status, _, months = api("GET", f"{BASE}/report/?{query}&granularity=month")
    assert status == 200 and len(months["items"]) == 120
    begin = datetime(2015, 1, 1, tzinfo=berlin).astimezone(UTC)
    end = datetime(2025, 1, 1, tzinfo=berlin).astimezone(UTC)
    truth = [p for p in simulated(ten_years, START, END) if begin <= p.hour < end]
    for body in (days, months):
        assert body["totals"]["hours_present"] == len(truth) == 87_671  # the first local hour is unstored
        assert body["totals"]["hours_total"] == 87_672
        assert body["totals"]["energy"]["observed"] == round(math.fsum(p.observed_energy for p in truth), 6)
    for month in months["items"]:
        first = date.fromisoformat(month["period"] + "-01")
        assert month["start"] == datetime(first.year, first.month, 1, tzinfo=berlin).isoformat()
