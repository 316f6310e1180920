"""3. Report latency: the report handler, in-process against DynamoDB Local, beside one raw Query.

The plant is the one the 10-year ingest backfilled (2016-01-01 .. 2025-12-31). The reference
is the original's layout: one item per plant-hour (here in a table of its own), read with one
paginated boto3 Query of the range, as a report over rows would have to read it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.common import HOURLY_TABLE, Services, hourly_row, median_p95, ms, row, table

LAST = date(2025, 12, 31)
RANGES = {
    "1 month": date(2025, 12, 1),
    "1 year": date(2025, 1, 1),
    "10 years": date(2016, 1, 1),
}
RUNS = {"1 month": 21, "1 year": 11, "10 years": 11}
SLOW_RUNS = 3  # the 10-year hour report and raw Query take ~9 s a run: median and max of 3
GOAL = 0.2  # 10-year day and month reports cost at most this share of the raw Query
LOCAL_TZ = "Europe/Berlin"  # the local-day report: day items split at local midnight


def _load_hourly_rows(client: Any, plant_id: int, first: date, last: date) -> int:
    """Write the plant's hours as the original stored them (not timed: this is the reference)."""
    from devstack.monitoring import hour_values
    from devstack.tables import batch_write

    hour, stop = datetime(first.year, first.month, first.day), datetime(last.year, last.month, last.day)
    stop += timedelta(days=1)
    rows = []
    while hour < stop:
        rows.append(hourly_row(plant_id, hour, hour_values(str(plant_id), hour)))
        hour += timedelta(hours=1)
    batch_write(client, HOURLY_TABLE, [{"PutRequest": {"Item": r}} for r in rows])
    return len(rows)


def _raw_query(client: Any, plant_id: int, first: date, last: date) -> int:
    """One Query of the range's hourly rows, every page read; returns how many items."""
    count = 0
    for page in client.get_paginator("query").paginate(
        TableName=HOURLY_TABLE,
        KeyConditionExpression="plant_id = :p AND #h BETWEEN :a AND :b",
        ExpressionAttributeNames={"#h": "hour"},
        ExpressionAttributeValues={
            ":p": {"N": str(plant_id)},
            ":a": {"S": f"{first}T00"},
            ":b": {"S": f"{last}T23"},
        },
    ):
        count += len(page["Items"])
    return count


def _report_caller(services: Services) -> Callable[..., tuple[int, int]]:
    """Call DataApiFunction's handler in this process as API Gateway would, every page of one
    report (limit 10,000); return (buckets, pages)."""
    from devstack.apigateway import build_event, match_route
    from devstack.lambdas import FakeContext, load_handler
    from devstack.template import load_template
    from powerfactor import apikeys
    from powerfactor.settings import reset_settings

    os.environ.update(services.child_env("DataApiFunction"))
    reset_settings()
    template = load_template()
    routes = template.api_routes()
    handler = load_handler(template.functions()["DataApiFunction"], template.layer_dirs())
    key = apikeys.ApiKey("bench0000000", "bench", frozenset({"read"}), "0" * 64, datetime.now(UTC))
    caller = {"principalId": key.key_id, **apikeys.authorizer_context(key)}

    def report(plant_id: int, first: date, last: date, granularity: str, tz: str = "UTC") -> tuple[int, int]:
        cursor, buckets, pages = None, 0, 0
        while True:
            query = (
                f"plant-id={plant_id}&from={first}&to={last}&granularity={granularity}&limit=10000&tz={tz}"
            )
            path = f"/api/solar-plant/report/?{query}" + (f"&cursor={cursor}" if cursor else "")
            route, params, _ = match_route(routes, "GET", path.split("?")[0])
            assert route is not None
            event = build_event(route, "GET", path, params, [], b"", "Prod", authorizer=caller)
            reply = handler(event, FakeContext("DataApiFunction", 256, 29))  # each call its own budget
            assert reply["statusCode"] == 200, reply
            page = json.loads(reply["body"])
            buckets, pages = buckets + len(page["items"]), pages + 1
            cursor = page["next_cursor"]
            if cursor is None:
                return buckets, pages

    return report


def _timed(call: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    if runs > SLOW_RUNS:
        call()  # one warm-up call, not counted (the slow ones run after warm ones anyway)
    samples, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = call()
        samples.append(time.perf_counter() - started)
    return samples, result


def run(services: Services, plant_id: int) -> None:
    client = services.client()
    _load_hourly_rows(client, plant_id, RANGES["10 years"], LAST)
    report = _report_caller(services)
    table(
        "Reports: the report handler in-process (every page, limit 10,000) vs one raw Query of the "
        "same range's hourly rows, DynamoDB Local",
        "range", "granularity", "buckets (pages)", "runs", "report median", "report p95",
        "raw Query median (items)", "report / raw Query",
    )  # fmt: skip
    ratios = {}
    for label, first in RANGES.items():
        slow = SLOW_RUNS if label == "10 years" else RUNS[label]
        raw_samples, items = _timed(lambda first=first: _raw_query(client, plant_id, first, LAST), slow)
        raw = median_p95(raw_samples)[0]
        for granularity in ("hour", "day", "month"):
            samples, (buckets, pages) = _timed(
                lambda first=first, g=granularity: report(plant_id, first, LAST, g),
                slow if granularity == "hour" else RUNS[label],
            )
            median, p95 = median_p95(samples)
            ratios[(label, granularity)] = median / raw
            row(
                label, granularity, f"{buckets:,} ({pages})", len(samples), ms(median), ms(p95),
                f"{ms(raw)} ({items:,})", f"{median / raw:.2f} x",
            )  # fmt: skip
        if label == "10 years":
            samples, (buckets, pages) = _timed(
                lambda first=first: report(plant_id, first, LAST, "day", LOCAL_TZ), RUNS[label]
            )
            median, p95 = median_p95(samples)
            ratios[(label, "local day")] = median / raw
            row(
                label, f"day, tz={LOCAL_TZ}", f"{buckets:,} ({pages})", len(samples), ms(median), ms(p95),
                f"{ms(raw)} ({items:,})", f"{median / raw:.2f} x",
            )  # fmt: skip
    table("Reports against the goal", "figure", "measured", "goal")
    for granularity in ("day", "month", "local day"):
        ratio = ratios[("10 years", granularity)]
        row(
            f"10-year {granularity} report / raw Query of its 87,672 hourly rows",
            f"**{ratio:.3f} x**",
            f"<= {GOAL} x: {'met' if ratio <= GOAL else 'not met'}",
        )
