"""`make bench`: figures measured on this machine in one run, each beside its reference.

Benchmarks print figures; they never fail on a timing. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def _row(name: str, value: str, reference: str, goal: str) -> None:
    print(f"| {name} | {value} | {reference} | {goal} |", flush=True)


# -- 4. cold start ---------------------------------------------------------------------------------

HANDLERS = {
    "PlantsApiFunction": "functions/plants_api",
    "DataApiFunction": "functions/data_api",
    "PlantStreamFunction": "functions/plant_stream",
    "SyncWorkerFunction": "functions/sync_worker",
    "DailySyncFunction": "functions/daily_sync",
}


def _import_time(code: str, path: str, runs: int = 7) -> float:
    """Median seconds to run `code` in a fresh Python 3.13 process (imports only)."""
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / path}:{ROOT / 'layers/powerfactor'}",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    timer = f"import time; t=time.perf_counter(); {code}; print(time.perf_counter()-t)"
    samples = [
        float(subprocess.run([PY, "-c", timer], env=env, capture_output=True, text=True, check=True).stdout)
        for _ in range(runs)
    ]
    return statistics.median(samples)


def _third_party_modules(path: str) -> tuple[list[str], list[str]]:
    """The third-party packages a handler loads on import, and every module of theirs it loads."""
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / path}:{ROOT / 'layers/powerfactor'}",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    code = (
        "import sys, json; before=set(sys.modules); import app; "
        "print(json.dumps(sorted(set(sys.modules)-before)))"
    )
    loaded = json.loads(
        subprocess.run([PY, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    )
    stdlib = set(sys.stdlib_module_names)
    top = {m.split(".")[0] for m in loaded}
    third_top = {
        m for m in top if m not in stdlib and m not in ("app", "powerfactor") and not m.startswith("_")
    }
    # every third-party module the handler ended up importing, submodules included
    third = [m for m in loaded if m.split(".")[0] in third_top]
    return sorted(third_top), third


def cold_start() -> None:
    print("\n### Cold start: import of each handler (fresh Python 3.13, median of 7)\n")
    print(
        "| handler | handler import | third-party imports alone | own code adds | requests/tenacity loaded |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name, path in HANDLERS.items():
        top, modules = _third_party_modules(path)
        full = _import_time("import app", path)
        deps = _import_time(f"import importlib; [importlib.import_module(m) for m in {modules!r}]", path)
        uses_http = [m for m in ("requests", "tenacity") if m in top]
        print(
            f"| {name} | {full * 1000:.0f} ms | {deps * 1000:.0f} ms | {(full / deps - 1) * 100:+.0f} % "
            f"| {', '.join(uses_http) or 'no'} |",
            flush=True,
        )


def build_size() -> None:
    build = ROOT / ".aws-sam" / "build"
    if not build.exists():
        print("\n(no .aws-sam/build: run `make build` for the package sizes)")
        return
    print("\n### Unzipped size of `sam build` output\n")
    print("| artifact | size | largest parts |")
    print("| --- | --- | --- |")
    for artifact in sorted(p for p in build.iterdir() if p.is_dir()):
        root = artifact / "python" if (artifact / "python").exists() else artifact
        parts = {}
        for child in root.iterdir():
            parts[child.name] = (
                sum(f.stat().st_size for f in child.rglob("*") if f.is_file())
                if child.is_dir()
                else child.stat().st_size
            )
        total = sum(parts.values())
        top = ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(parts.items(), key=lambda kv: -kv[1])[:4])
        print(f"| {artifact.name} | {total / 1e6:.1f} MB | {top} |", flush=True)


# -- 1, 2, 5. ingest, write cost, memory ----------------------------------------------------------

INGEST_CHILD = r"""
import json, os, resource, sys, time
from datetime import date
from powerfactor import plants
from powerfactor.monitoring import MonitoringClient
from powerfactor.sync import sync_plant
years = int(sys.argv[1]); today = date.fromisoformat(sys.argv[2])
plant = plants.create_plant(f"bench {years}y {time.time()}")
client = MonitoringClient(os.environ["MONITORING_SERVICE_URL"], today=lambda: today)
started = time.perf_counter()
outcome = sync_plant(plant.id, client, today=today)
seconds = time.perf_counter() - started
print(json.dumps({"hours": outcome.hours_stored, "seconds": seconds, "status": outcome.status,
                  "requests": client.stats["requests"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def ingest(endpoint: str, monitoring_url: str, env: dict[str, str]) -> None:
    import boto3

    from devstack.monitoring import hour_values

    today = date(2026, 1, 1)
    print("\n### Ingest: backfill of one plant, simulator -> client -> validation -> DynamoDB Local\n")
    print("| run | datapoints | seconds | datapoints/s | requests | peak RSS |")
    print("| --- | --- | --- | --- | --- | --- |")
    results = {}
    for years in (1, 10):
        child_env = {**env, "SYNC_EVERY_RUN": str(years), "SYNC_UNTIL_YEAR": str(years)}
        out = (
            subprocess.run(
                [PY, "-c", INGEST_CHILD, str(years), today.isoformat()],
                env=child_env,
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()
        )
        r = json.loads(out[-1])
        results[years] = r
        print(
            f"| {years} year(s) | {r['hours']:,} | {r['seconds']:.1f} | {r['hours'] / r['seconds']:,.0f} "
            f"| {r['requests']} | {r['peak_rss_mb']:.0f} MB |",
            flush=True,
        )

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    # (a) the ceiling: the same year of day items, pre-built, written with plain batch_write_item
    from powerfactor.models import Datapoint
    from powerfactor.storage import datapoints as store

    start = date(2024, 1, 1)
    items = []
    for d in range(365):
        day = start + timedelta(days=d)
        hours = {}
        for h in range(24):
            hour = datetime(day.year, day.month, day.day, h, tzinfo=UTC)
            hours[h] = Datapoint(hour, *hour_values("ceiling", hour.replace(tzinfo=None)))
        item = store._day_item(999_999, day, hours)
        items.append(item.serialize())
    consumed = 0.0
    t = time.perf_counter()
    for i in range(0, len(items), 25):
        batch = {"DatapointsTable": [{"PutRequest": {"Item": it}} for it in items[i : i + 25]]}
        while batch:
            response = client.batch_write_item(RequestItems=batch, ReturnConsumedCapacity="TOTAL")
            consumed += sum(c.get("CapacityUnits", 0) for c in response.get("ConsumedCapacity", []))
            batch = response.get("UnprocessedItems") or {}
    ceiling_s = time.perf_counter() - t
    ceiling = 8760 / ceiling_s
    # (b) the original's strategy: one write per hourly row, sequentially (an hourly-item table)
    rows = 3000
    t = time.perf_counter()
    for r in range(rows):
        hour = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=r)
        v = hour_values("per-row", hour.replace(tzinfo=None))
        client.put_item(
            TableName="DatapointsTable",
            Item={
                "plant_id": {"N": "999998"},
                "period": {"S": f"H#{hour:%Y-%m-%dT%H}"},
                "ee": {"N": repr(v[0])},
                "ei": {"N": repr(v[1])},
                "oe": {"N": repr(v[2])},
                "oi": {"N": repr(v[3])},
            },
        )
    per_row = rows / (time.perf_counter() - t)
    real = results[10]["hours"] / results[10]["seconds"]
    print("\n| figure | measured | reference | goal |")
    print("| --- | --- | --- | --- |")
    _row(
        "ingest, 10 years (datapoints/s)",
        f"{real:,.0f}",
        f"ceiling {ceiling:,.0f} (plain batch_write_item of the same day items)",
        f">= 0.8 x ceiling: {real / ceiling:.2f} x",
    )
    _row(
        "ingest vs the original's per-row writes",
        f"{real:,.0f}",
        f"per-row put_item {per_row:,.0f}/s",
        f">= 20 x: {real / per_row:.1f} x",
    )
    _row(
        "write units per plant-year (day items)",
        f"{consumed:.0f} WCU for 365 day items",
        "8,760 WCU with one item per hour",
        "as low as the design allows",
    )
    _row(
        "peak RSS, 10-year backfill",
        f"{results[10]['peak_rss_mb']:.0f} MB",
        "256 MB Lambda",
        "fits with room",
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", choices=["cold", "ingest"], default=None)
    args = parser.parse_args()
    print(
        f"# PowerFactor benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}"
    )
    if args.only in (None, "cold"):
        cold_start()
        build_size()
    if args.only in (None, "ingest"):
        from devstack.dynamodb import free_port, start_dynamodb
        from devstack.monitoring import MonitoringSimulator
        from devstack.stack import dynamodb_client, function_environment, table_names
        from devstack.tables import ensure_tables
        from devstack.template import load_template

        template = load_template()
        db = start_dynamodb(free_port(), data_dir=None, allow_moto=False)
        simulator = MonitoringSimulator(port=0)
        simulator.start()
        try:
            ensure_tables(dynamodb_client(db.endpoint), template, table_names(template))
            env = function_environment(
                template, {"DynamoDbEndpoint": db.endpoint, "MonitoringServiceUrl": simulator.url}
            )
            child_env = {
                **os.environ,
                **env["SyncWorkerFunction"],
                "PYTHONPATH": f"{ROOT / 'layers/powerfactor'}:{ROOT}",
            }
            os.environ.update(child_env)
            ingest(db.endpoint, simulator.url, child_env)
        finally:
            simulator.stop()
            db.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
