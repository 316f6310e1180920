"""1, 2, 5. Ingest throughput, write cost and memory of a plant's backfill.

The parent (`run`) measures the references with plain boto3; the real path runs in a child
process (`python -m bench.ingest YEARS TODAY`) so its peak RSS is its own. The 10-year backfill
also runs on each `--against` commit's code (its tree from `git archive`), in turns with today's.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    HOURLY_TABLE,
    PY,
    ROOT,
    Services,
    code_at,
    hourly_row,
    new_plant,
    proc_cpu_seconds,
    row,
    short_rev,
    table,
)

TODAY = date(2026, 1, 1)  # the 10-year backfill then covers 2016-01-01 .. 2025-12-31
PER_ROW_SAMPLE = 1500  # rows written one by one for the original's rate
SYNC_CPU_BEFORE = 3.96  # CPU-s of the 10-year backfill's sync process before issue 13 (the figure)
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
SIDE_RUNS = 2  # 10-year backfills per code beside an `--against` commit


# -- the child: the real path ----------------------------------------------------------------------


def _count_dynamodb_calls() -> tuple[dict[str, int], dict[str, float]]:
    """Count every DynamoDB call pynamodb makes, and the capacity each consumed."""
    from pynamodb.connection.base import Connection

    calls: dict[str, int] = {}
    units: dict[str, float] = {}
    dispatch = Connection.dispatch

    def counting(self: Connection, operation: str, kwargs: dict[str, Any]) -> Any:
        if operation != "DescribeTable":
            kwargs = {**kwargs, "ReturnConsumedCapacity": "TOTAL"}
        data = dispatch(self, operation, kwargs)
        calls[operation] = calls.get(operation, 0) + 1
        consumed = (data or {}).get("ConsumedCapacity") or []
        for c in consumed if isinstance(consumed, list) else [consumed]:
            units[operation] = units.get(operation, 0.0) + c.get("CapacityUnits", 0.0)
        return data

    Connection.dispatch = counting  # type: ignore[method-assign]
    return calls, units


def child(years: int, today: date, phases: bool, dynamodb_pid: int) -> dict[str, Any]:
    """The real path, on the code of the tree this process runs in (today's or an older commit's)."""
    import resource

    from bench.common import layer_module

    datapoints = layer_module("powerfactor.datapoints.store", "powerfactor.storage.datapoints")
    plants = layer_module("powerfactor.plants.logic", "powerfactor.plants")
    sync = layer_module("powerfactor.sync.run", "powerfactor.sync")
    vendor = layer_module("powerfactor.sync.vendor", "powerfactor.monitoring")
    layer_module("powerfactor.runtime.gc_policy", "powerfactor.collector").fewer_young_collections()
    calls, units = _count_dynamodb_calls()
    plant = new_plant(plants, f"bench {years}y {time.time()}")
    calls.clear(), units.clear()
    client = vendor.MonitoringClient(os.environ["MONITORING_SERVICE_URL"], today=lambda: today)
    processes = {"sync process": os.getpid(), "simulator": os.getppid(), "DynamoDB Local": dynamodb_pid}
    cpu = {name: proc_cpu_seconds(pid) for name, pid in processes.items()}
    started = time.perf_counter()
    outcome = sync.sync_plant(plant.id, client, today=today)
    cpu = {name: proc_cpu_seconds(pid) - cpu[name] for name, pid in processes.items()}
    result: dict[str, Any] = {
        "plant_id": plant.id,
        "status": outcome.status,
        "hours": outcome.hours_stored,
        "seconds": time.perf_counter() - started,
        "cpu": cpu,
        "requests": client.stats["requests"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "dynamodb_calls": dict(calls),
        "capacity_units": dict(units),
    }
    if phases:  # the same months again, fetch alone, then write alone (to another plant id)
        months = list(reversed(list(vendor.month_chunks(sync.horizon(today, years), today))))
        started = time.perf_counter()
        again = vendor.MonitoringClient(client.base_url, today=lambda: today)
        chunks = list(again.fetch_ranges(plant.id, months))
        result["fetch_only_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        for chunk in chunks:
            datapoints.write_days(plant.id + 1_000_000, chunk.datapoints)
        result["write_only_seconds"] = time.perf_counter() - started
        datapoints.delete_plant_data(plant.id + 1_000_000)
    return result


# -- the parent: references and the table ----------------------------------------------------------


def _real_path(services: Services, years: int, phases: bool = False, root: Path = ROOT) -> dict[str, Any]:
    """A backfill of `years` by the code of `root`, in a child process."""
    env = services.child_env(SYNC_EVERY_RUN=str(years), SYNC_UNTIL_YEAR=str(years))
    env["PYTHONPATH"] = f"{root / 'layers/powerfactor'}:{root}"
    args = [PY, "-m", "bench.ingest", str(years), TODAY.isoformat(), str(services.dynamodb_pid)]
    args += ["--phases"] if phases else []
    out = subprocess.run(args, env=env, cwd=root, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _prebuilt_items(plant_id: int, years: int) -> list[dict[str, Any]]:
    """The items the real path writes for these years (days and month summaries), serialized."""
    from devstack.monitoring import hour_values
    from powerfactor.datapoints import store
    from powerfactor.datapoints.schemas import Datapoint

    first = date(TODAY.year - years, 1, 1)
    days, sums = [], {}
    for d in range((TODAY - first).days):
        day = first + timedelta(days=d)
        hours = {}
        for h in range(24):
            hour = datetime(day.year, day.month, day.day, h, tzinfo=UTC)
            hours[h] = Datapoint(hour, *hour_values(str(plant_id), hour.replace(tzinfo=None)))
        sums[day] = store._sums(hours)
        days.append(store._day_item(plant_id, day, sums[day], hours, years))
    months = store._month_items(plant_id, sums, years)
    return [*days, *months]


def _batch_write_seconds(client: Any, items: list[dict[str, Any]], writers: int) -> float:
    from devstack.tables import batch_write

    requests = [{"PutRequest": {"Item": it}} for it in items]
    batches = [requests[i : i + 25] for i in range(0, len(requests), 25)]  # one call each
    started = time.perf_counter()
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(lambda batch: batch_write(client, "DatapointsTable", batch), batches))
    return time.perf_counter() - started


def backfilled(services: Services) -> int:
    """A plant with 10 years of data, backfilled through the real path (for `--only reports`)."""
    return _real_path(services, 10)["plant_id"]


def run(services: Services, against: Sequence[str] = ()) -> dict[str, Any]:
    """Print the ingest tables; return the 10-year run (its plant is used by the report bench)."""
    from devstack.monitoring import hour_values

    client = services.client()
    # DynamoDB Local's JIT makes its first minute several times slower: warm it up first
    _batch_write_seconds(client, _prebuilt_items(900_000, 10), 1)
    _real_path(services, 1)

    table(
        "Ingest: backfill of one plant, simulator -> client -> validation -> DynamoDB Local",
        "run", "datapoints", "seconds", "datapoints/s", "CPU of the sync process", "monitoring requests",
        "DynamoDB calls", "peak RSS",
    )  # fmt: skip
    runs = {years: _real_path(services, years, phases=years == 10) for years in (1, 10)}
    for years, r in runs.items():
        assert r["status"] == "done", r
        calls = ", ".join(f"{op} {n}" for op, n in sorted(r["dynamodb_calls"].items()))
        row(
            f"{years} year{'s' * (years > 1)}", f"{r['hours']:,}", f"{r['seconds']:.2f}",
            f"{r['hours'] / r['seconds']:,.0f}", f"{r['cpu']['sync process']:.2f} s", r["requests"], calls,
            f"{r['peak_rss_mb']:.0f} MB",
        )  # fmt: skip
    ten = runs[10]

    # (a) the ceiling: the same items, pre-built, plain batch_write_item, one writer and four
    items = _prebuilt_items(900_001, 10)
    sequential = _batch_write_seconds(client, items, 1)
    items = _prebuilt_items(900_002, 10)
    parallel = _batch_write_seconds(client, items, 4)
    ceiling = ten["hours"] / min(sequential, parallel)
    # (b) the original's strategy: one write per hourly row, one after the other
    start = datetime(2024, 1, 1)
    started = time.perf_counter()
    units = 0.0
    for r in range(PER_ROW_SAMPLE):
        hour = start + timedelta(hours=r)
        response = client.put_item(
            TableName=HOURLY_TABLE,
            Item=hourly_row(999_999, hour, hour_values("per-row", hour)),
            ReturnConsumedCapacity="TOTAL",
        )
        units += response["ConsumedCapacity"]["CapacityUnits"]
    per_row = PER_ROW_SAMPLE / (time.perf_counter() - started)

    real = ten["hours"] / ten["seconds"]
    wcu = sum(v for op, v in ten["capacity_units"].items() if op in WRITES)
    rcu = sum(v for op, v in ten["capacity_units"].items() if op not in WRITES)
    table("Ingest against its references", "figure", "measured", "reference", "goal")
    row(
        "ingest, 10 years",
        f"{real:,.0f} datapoints/s ({ten['seconds']:.2f} s)",
        f"ceiling {ceiling:,.0f}/s: the same {len(items):,} items pre-built, plain `batch_write_item`, "
        f"{sequential:.2f} s one call at a time, {parallel:.2f} s four at a time",
        f">= 0.8 x ceiling: **{real / ceiling:.2f} x**",
    )
    row(
        "where the 10 years' time goes",
        f"fetch + validate alone {ten['fetch_only_seconds']:.2f} s, write alone "
        f"{ten['write_only_seconds']:.2f} s, together (overlapped) {ten['seconds']:.2f} s",
        "",
        "",
    )
    cpu = ten["cpu"]
    row(
        "CPU used during the 10-year sync",
        ", ".join(f"{k} {v:.2f} s" for k, v in cpu.items()) + f": {sum(cpu.values()):.2f} s in all",
        f"{os.cpu_count()} cores x {ten['seconds']:.2f} s = {os.cpu_count() * ten['seconds']:.2f} s",
        "",
    )
    sync_cpu = cpu["sync process"]
    row(
        "CPU of the sync process, 10 years",
        f"{sync_cpu:.2f} s ({ten['hours'] / sync_cpu:,.0f} datapoints per CPU-second)",
        f"{SYNC_CPU_BEFORE:.2f} s before issue 13",
        f"<= 1.5 s: **{sync_cpu:.2f} s, {sync_cpu / SYNC_CPU_BEFORE:.2f} x** "
        f"({'met' if sync_cpu <= 1.5 else 'missed'})",
    )
    row(
        "ingest vs the original's per-row writes",
        f"{real:,.0f} datapoints/s",
        f"`put_item` per hourly row, sequentially: {per_row:,.0f}/s ({PER_ROW_SAMPLE:,} rows)",
        f">= 20 x: **{real / per_row:.1f} x**",
    )
    row(
        "write units per plant-year",
        f"{wcu / 10:,.0f} WCU, {sum(ten['dynamodb_calls'].values()) / 10:,.0f} DynamoDB calls "
        f"(all writes and reads of the 10-year run / 10; reads {rcu / 10:,.1f} RCU)",
        f"{units / PER_ROW_SAMPLE * 8760:,.0f} WCU and 8,760 calls with a row per hour",
        "as low as the design allows: 365 day items + 12 month summaries",
    )
    row(
        "peak RSS, 10-year backfill",
        f"{ten['peak_rss_mb']:.0f} MB (the whole child process)",
        "a 256 MB Lambda",
        "fits with room to spare",
    )
    for rev in against:
        _beside(services, rev)
    return ten


def _beside(services: Services, rev: str) -> None:
    """The 10-year backfill by today's code and by `rev`'s, in turns, `SIDE_RUNS` each."""
    ref = short_rev(rev)
    runs: dict[str, list[dict[str, Any]]] = {"now": [], ref: []}
    with code_at(rev) as root:
        for _ in range(SIDE_RUNS):
            for label, code in (("now", ROOT), (ref, root)):
                result = _real_path(services, 10, root=code)
                assert result["status"] == "done", result
                runs[label].append(result)

    def median(label: str, figure: Callable[[dict[str, Any]], float]) -> float:
        return statistics.median(figure(r) for r in runs[label])

    table(
        f"Ingest beside {ref}: the 10-year backfill, {SIDE_RUNS} runs each in turns (medians)",
        "figure", "now", ref, "now / " + ref,
    )  # fmt: skip
    figures: list[tuple[str, Callable[[dict[str, Any]], float], str]] = [
        ("datapoints/s", lambda r: r["hours"] / r["seconds"], "{:,.0f}"),
        ("CPU of the sync process", lambda r: r["cpu"]["sync process"], "{:.2f} s"),
        ("peak RSS", lambda r: r["peak_rss_mb"], "{:.0f} MB"),
        ("DynamoDB calls", lambda r: sum(r["dynamodb_calls"].values()), "{:,.0f}"),
    ]
    for name, figure, shown in figures:
        now, was = median("now", figure), median(ref, figure)
        row(name, shown.format(now), shown.format(was), f"**{now / was:.2f} x**")


if __name__ == "__main__":
    years, today, dynamodb_pid = int(sys.argv[1]), date.fromisoformat(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(child(years, today, "--phases" in sys.argv, dynamodb_pid)))
