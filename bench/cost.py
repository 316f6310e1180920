"""8. Cost units: DynamoDB capacity, item bytes and Lambda time of each thing PowerFactor does.

Everything runs in this process against DynamoDB Local (AWS's engine), with the template's
defaults (SyncEveryRun 1, SyncUntilYear 10, MemorySize 256). Every DynamoDB call pynamodb makes
carries `ReturnConsumedCapacity=TOTAL` (bench.ingest's hook on `Connection.dispatch`); the
units are what DynamoDB Local reports, which follow DynamoDB's rules (1 write unit per started
KB written, 1 read unit per started 4 KB read strongly, half that eventually consistent).
- backfill: a new plant synced run after run until it reaches the horizon; each run is one
  SyncWorkerFunction invocation;
- daily sync: that plant synced on each of the next 5 days (a run refreshes the last 7 days);
- API calls: the handlers called as API Gateway would (events built by devstack), warm, and the
  authorizer on a cache miss;
- storage: the size of every item of the 10-year plant by DynamoDB's item size rules (names and
  values, numbers at 1 byte per 2 digits + 1), plus the 100 bytes DynamoDB bills per item.
Durations are this machine's (x86, shared cores), not arm64 Lambda's: GB-seconds are an order
of magnitude, not a bill. `PRICES` and the monthly table: see bench/results/2026-11-26-notebook.md.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from bench.common import Services, new_plant, plant_of, row, say, table

TODAY = date(2026, 1, 1)
MEMORY_GB = 256 / 1024  # template.yaml Globals MemorySize
DAYS = 5  # daily runs measured
API_RUNS = 5
QUIET = {"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"}  # figures only on stdout

# eu-central-1 on-demand, USD (see bench/results/2026-11-26-notebook.md for which were confirmed and where)
PRICES = {
    "wru_per_million": 0.7625,
    "rru_per_million": 0.1525,
    "storage_gb_month": 0.306,
    "lambda_gb_second_arm": 0.0000133334,
    "lambda_per_million": 0.20,
    "api_rest_per_million": 3.70,
    "sqs_per_million": 0.40,
    "alarm_month": 0.10,
    "dashboard_month": 3.00,
    "logs_ingest_gb": 0.63,
}


class Meter:
    """Capacity units and calls of every DynamoDB call since the last `take()`."""

    def __init__(self) -> None:
        from bench.ingest import _count_dynamodb_calls

        self.calls, self.units = _count_dynamodb_calls()

    def take(self) -> tuple[float, float, int]:
        """(write units, read units, calls) since the last take."""
        from bench.ingest import WRITES

        writes = sum(u for op, u in self.units.items() if op in WRITES)
        reads = sum(u for op, u in self.units.items() if op not in WRITES)
        calls = sum(self.calls.values())
        self.calls.clear()
        self.units.clear()
        return writes, reads, calls


def _number_size(value: str) -> int:
    digits = len(Decimal(value).normalize().as_tuple().digits)
    return 1 + math.ceil(digits / 2)


def item_size(item: dict[str, Any]) -> int:
    """An item's size by DynamoDB's rules (attribute names + values)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        kind, inner = next(iter(value.items()))
        if kind == "S":
            size += len(inner.encode())
        elif kind == "N":
            size += _number_size(inner)
        elif kind == "B":
            size += len(inner)
        elif kind == "L":
            size += 3 + sum(item_size({"": v}) + 1 for v in inner)
        else:
            size += 1
    return size


def _plant_items(services: Services, plant_id: int) -> list[dict[str, Any]]:
    pages = (
        services.client()
        .get_paginator("query")
        .paginate(
            TableName="DatapointsTable",
            KeyConditionExpression="plant_id = :p",
            ExpressionAttributeValues={":p": {"N": str(plant_id)}},
        )
    )
    return [item for page in pages for item in page["Items"]]


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def run(services: Services) -> dict[str, Any]:
    from powerfactor.plants import logic as plants
    from powerfactor.runtime.settings import reset_settings
    from powerfactor.sync.run import horizon, sync_plant
    from powerfactor.sync.vendor import MonitoringClient

    os.environ.update(services.child_env("SyncWorkerFunction", **QUIET))
    reset_settings()
    meter = Meter()
    figures: dict[str, Any] = {}

    # -- backfill: runs until the horizon ---------------------------------------------------------
    plant = new_plant(plants, f"cost {time.time()}")
    meter.take()
    client = MonitoringClient(services.monitoring_url, today=lambda: TODAY)
    runs: list[tuple[float, float, int, float]] = []
    while True:
        started = time.perf_counter()
        outcome = sync_plant(plant.id, client, today=TODAY)
        seconds = time.perf_counter() - started
        runs.append((*meter.take(), seconds))
        state = plant_of(plants, plant.id).sync
        assert outcome.status == "done", outcome
        if state.history_from is not None and state.history_from <= horizon(TODAY, 10):
            break
        assert len(runs) < 20, state
    meter.take()
    table(
        "Cost units: backfill of a new plant to the 10-year horizon (SyncEveryRun 1: one year a run)",
        "run", "write units", "read units", "DynamoDB calls", "duration", "GB-s at 256 MB",
    )  # fmt: skip
    for number, (w, r, c, s) in enumerate(runs, start=1):
        row(number, f"{w:,.0f}", f"{r:,.1f}", c, f"{s:.2f} s", f"{s * MEMORY_GB:.3f}")
    total_w, total_r = sum(r[0] for r in runs), sum(r[1] for r in runs)
    total_s = sum(r[3] for r in runs)
    row("all", f"{total_w:,.0f}", f"{total_r:,.1f}", sum(r[2] for r in runs), f"{total_s:.2f} s",
        f"{total_s * MEMORY_GB:.3f}")  # fmt: skip
    figures["backfill"] = {"runs": len(runs), "wru": total_w, "rru": total_r, "seconds": total_s,
                           "first_run": runs[0]}  # fmt: skip

    # -- daily sync --------------------------------------------------------------------------------
    daily = []
    for day in range(1, DAYS + 1):
        today = TODAY + timedelta(days=day)
        client = MonitoringClient(services.monitoring_url, today=lambda today=today: today)
        started = time.perf_counter()
        assert sync_plant(plant.id, client, today=today).status == "done"
        seconds = time.perf_counter() - started
        daily.append((*meter.take(), seconds))
    table(
        f"Cost units: the daily sync of one plant ({DAYS} days after the backfill; a run refreshes 7 days)",
        "day", "write units", "read units", "DynamoDB calls", "duration", "GB-s at 256 MB",
    )  # fmt: skip
    for number, (w, r, c, s) in enumerate(daily, start=1):
        row(f"{TODAY + timedelta(days=number)}", f"{w:,.0f}", f"{r:,.1f}", c, f"{s:.2f} s",
            f"{s * MEMORY_GB:.3f}")  # fmt: skip
    per_day = {
        "wru": statistics.mean(d[0] for d in daily),
        "rru": statistics.mean(d[1] for d in daily),
        "seconds": statistics.median(d[3] for d in daily),
    }
    row("mean / median", f"{per_day['wru']:,.1f}", f"{per_day['rru']:,.1f}", "",
        f"{per_day['seconds']:.2f} s", f"{per_day['seconds'] * MEMORY_GB:.3f}")  # fmt: skip
    figures["daily"] = per_day

    # -- the daily fan-out's read of the plants index, per plant ----------------------------------
    fleet = [new_plant(plants, f"cost fleet {i} {time.time()}").id for i in range(50)]
    meter.take()
    from powerfactor.plants.store import plant_ids

    listed = len(list(plant_ids()))
    _, index_reads, _ = meter.take()
    figures["fanout_rru_per_plant"] = index_reads / listed
    say(f"\nThe daily fan-out's walk of the plants index: {index_reads:g} read units for {listed} plants "
        f"({index_reads / listed:.3f} per plant).")  # fmt: skip

    # -- API calls -----------------------------------------------------------------------------------
    figures["api"] = _api_calls(services, meter, plant.id, fleet)

    # -- storage -------------------------------------------------------------------------------------
    items = _plant_items(services, plant.id)
    days = [i for i in items if i["period"]["S"].startswith("D#")]
    months = [i for i in items if i["period"]["S"].startswith("M#")]
    day_bytes = statistics.mean(item_size(i) for i in days)
    month_bytes = statistics.mean(item_size(i) for i in months)
    per_year = 365.25 * (day_bytes + 100) + 12 * (month_bytes + 100)
    table("Cost units: storage (DynamoDB item sizes of the backfilled plant)", "item", "count", "mean size",
          "billed with the 100 B per item")  # fmt: skip
    row("day (D#)", len(days), f"{day_bytes:,.0f} B", f"{day_bytes + 100:,.0f} B")
    row("month summary (M#)", len(months), f"{month_bytes:,.0f} B", f"{month_bytes + 100:,.0f} B")
    row("per plant-year", "365.25 days + 12 months", "", f"{per_year / 1024:,.1f} KiB")
    row("per plant at the 10-year horizon", "", "", f"{10 * per_year / 1024 / 1024:,.2f} MiB")
    figures["bytes_per_plant_year"] = per_year
    _cost_table(figures)
    return figures


def _api_calls(services: Services, meter: Meter, plant_id: int, fleet: list[int]) -> dict[str, Any]:
    """Units and duration of typical API calls, and of the authorizer on a cache miss."""
    from devstack.apigateway import build_event, match_route
    from devstack.authorizer import method_arn
    from devstack.lambdas import FakeContext, load_handler
    from devstack.template import load_template
    from powerfactor.access import keys as apikeys
    from powerfactor.runtime.settings import reset_settings

    template = load_template()
    functions = template.functions()
    os.environ.update(services.child_env("PlantsApiFunction", **QUIET))
    os.environ.update(services.child_env("AuthorizerFunction", **QUIET))
    reset_settings()
    token, key = apikeys.create_key("bench cost", ["read"])
    caller = {"principalId": key.key_id, **apikeys.authorizer_context(key)}
    last = TODAY + timedelta(days=DAYS - 1)
    calls = {
        "list plants (first page, default limit)": ("PlantsApiFunction", "/api/solar-plant"),
        "get a plant": ("PlantsApiFunction", f"/api/solar-plant/plant/{plant_id}"),
        "1 day of data": ("DataApiFunction", f"/api/solar-plant/data?plant-id={plant_id}"
                          f"&from={last}&to={last}"),
        "1-year day report": ("DataApiFunction", f"/api/solar-plant/report?plant-id={plant_id}"
                              f"&from={last - timedelta(days=364)}&to={last}&granularity=day"),
    }  # fmt: skip
    results: dict[str, Any] = {}
    table(
        f"Cost units: API calls (handlers in-process, warm, median of {API_RUNS}; {len(fleet) + 1} plants)",
        "call", "function", "read units", "DynamoDB calls", "duration", "GB-s at 256 MB",
    )  # fmt: skip
    for label, (function, path) in calls.items():
        route, params, _ = match_route(template.api_routes(), "GET", path.split("?")[0])
        assert route is not None, path
        handler = load_handler(functions[function], template.layer_dirs())
        event = build_event(route, "GET", path, params, [], b"", "Prod", authorizer=caller)
        samples, units = [], []
        for _ in range(API_RUNS + 1):
            started = time.perf_counter()
            reply = handler(event, FakeContext(function, 256, 29))
            samples.append(time.perf_counter() - started)
            assert reply["statusCode"] == 200, reply
            units.append(meter.take())
        samples, units = samples[1:], units[1:]  # the first call warms up
        reads, count = statistics.median(u[1] for u in units), statistics.median(u[2] for u in units)
        seconds = statistics.median(samples)
        row(
            label,
            function,
            f"{reads:g}",
            f"{count:g}",
            f"{seconds * 1000:.1f} ms",
            f"{seconds * MEMORY_GB:.4f}",
        )
        results[label] = {"rru": reads, "seconds": seconds}
    authorizer = load_handler(functions["AuthorizerFunction"], template.layer_dirs())
    arn = method_arn("Prod", "GET", f"/api/solar-plant/plant/{plant_id}")
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": arn}
    authorizer(event, FakeContext("AuthorizerFunction", 256, 10))
    meter.take()
    samples = []
    for _ in range(API_RUNS):
        started = time.perf_counter()
        authorizer(event, FakeContext("AuthorizerFunction", 256, 10))
        samples.append(time.perf_counter() - started)
    _, reads, count = meter.take()
    seconds = statistics.median(samples)
    row("authorizer, cache miss", "AuthorizerFunction", f"{reads / API_RUNS:g}", f"{count / API_RUNS:g}",
        f"{seconds * 1000:.1f} ms", f"{seconds * MEMORY_GB:.4f}")  # fmt: skip
    results["authorizer"] = {"rru": reads / API_RUNS, "seconds": seconds}
    return results


REQUESTS_PER_PLANT_MONTH = 100  # the monthly table's assumption: a quarter of each call above
LOG_KB_PER_INVOCATION = 1.0  # START/END/REPORT lines and one JSON log line: an estimate


def _cost_table(f: dict[str, Any]) -> None:
    """The monthly cost for 10, 100 and 1,000 plants, the arithmetic beside each figure."""
    p = PRICES
    api = [v for k, v in f["api"].items() if k != "authorizer"]
    api_rru = statistics.mean(a["rru"] for a in api)
    api_seconds = statistics.mean(a["seconds"] for a in api)
    auth = f["api"]["authorizer"]
    table(
        "Monthly cost, eu-central-1 on-demand, USD, without free tiers (30 days; "
        f"{REQUESTS_PER_PLANT_MONTH} API requests per plant-month, each an authorizer miss)",
        "line", "per plant-month (units)", "10 plants", "100 plants", "1,000 plants",
    )  # fmt: skip
    lines: list[tuple[str, str, float]] = []
    d = f["daily"]
    wru = 30 * d["wru"]
    rru = 30 * (d["rru"] + f["fanout_rru_per_plant"]) + REQUESTS_PER_PLANT_MONTH * (api_rru + auth["rru"])
    lines.append(
        ("DynamoDB writes", f"{wru:,.0f} WRU x ${p['wru_per_million']}/M", wru * p["wru_per_million"] / 1e6)
    )
    lines.append(
        ("DynamoDB reads", f"{rru:,.0f} RRU x ${p['rru_per_million']}/M", rru * p["rru_per_million"] / 1e6)
    )
    gb = 10 * f["bytes_per_plant_year"] / 1024**3
    lines.append(("DynamoDB storage (10 years kept)", f"{gb * 1024:,.2f} MB x ${p['storage_gb_month']}/GB",
                  gb * p["storage_gb_month"]))  # fmt: skip
    invocations = 30 + 2 * REQUESTS_PER_PLANT_MONTH  # a worker run a day; API function + authorizer
    seconds = 30 * d["seconds"] + REQUESTS_PER_PLANT_MONTH * (api_seconds + auth["seconds"])
    lines.append(("Lambda requests", f"{invocations} x ${p['lambda_per_million']}/M",
                  invocations * p["lambda_per_million"] / 1e6))  # fmt: skip
    gb_seconds = seconds * MEMORY_GB
    lines.append(("Lambda duration (arm64)", f"{gb_seconds:,.2f} GB-s x ${p['lambda_gb_second_arm']}",
                  seconds * MEMORY_GB * p["lambda_gb_second_arm"]))  # fmt: skip
    lines.append(("API Gateway REST", f"{REQUESTS_PER_PLANT_MONTH} x ${p['api_rest_per_million']}/M",
                  REQUESTS_PER_PLANT_MONTH * p["api_rest_per_million"] / 1e6))  # fmt: skip
    sqs = 30 * 2.1  # per job: a tenth of a SendMessageBatch, a receive, a delete
    lines.append(
        ("SQS (jobs)", f"{sqs:.0f} requests x ${p['sqs_per_million']}/M", sqs * p["sqs_per_million"] / 1e6)
    )
    logs_gb = (invocations + 30) * LOG_KB_PER_INVOCATION / 1024**2
    lines.append(("CloudWatch Logs ingestion", f"{logs_gb * 1024**2:,.0f} KB x ${p['logs_ingest_gb']}/GB",
                  logs_gb * p["logs_ingest_gb"]))  # fmt: skip
    total = 0.0
    for name, arithmetic, dollars in lines:
        row(name, arithmetic, *(f"${n * dollars:,.4f}" for n in (10, 100, 1000)))
        total += dollars
    row("**per-plant lines, total**", "", *(f"**${n * total:,.2f}**" for n in (10, 100, 1000)))
    idle_sqs = 5 * 3 * 60 * 24 * 30  # Lambda's ~5 pollers long-polling 20 s each, an estimate
    fixed = idle_sqs * p["sqs_per_million"] / 1e6
    row("fixed: SQS polling of the idle queue (estimate)", f"~{idle_sqs:,} requests", *[f"${fixed:,.2f}"] * 3)
    row("fixed: per CloudWatch alarm / dashboard", f"${p['alarm_month']} / ${p['dashboard_month']} a month",
        "", "", "")  # fmt: skip
    b = f["backfill"]
    one_off = b["wru"] * p["wru_per_million"] / 1e6 + b["seconds"] * MEMORY_GB * p["lambda_gb_second_arm"]
    say(f"\nOne-off per new plant (10-year backfill, {b['runs']} worker runs): {b['wru']:,.0f} WRU, "
        f"{b['rru']:,.1f} RRU, {b['seconds'] * MEMORY_GB:,.2f} GB-s: ${one_off:,.4f}.")  # fmt: skip
