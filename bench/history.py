"""10. What keeping revisions costs the common case: before and after, side by side in one run.

Issue 23's goal: a daily sync that finds nothing changed, and a new plant's backfill, cost at
most 20 % more DynamoDB units and CPU than before the revision log (`BASELINE`, extracted with
`git archive` as bench/cold.py does). Each variant runs in a child process of its own (`python -m
bench.history`, its `powerfactor` package first on the path) against the same DynamoDB Local and
simulator, `ROUNDS` times, interleaved: a new plant synced run after run to the 10-year horizon
(SyncEveryRun 1: ten worker runs), then `DAYS` daily runs on the following days, each refreshing
the last 7 days (nothing changed; one new day). Units: every DynamoDB call's consumed capacity
(bench.ingest's hook); CPU: the child's process time (all its threads: the client's prefetch, the
batch writers) across each `sync_plant` call, the Lambda's own CPU; units are the same each
round, CPU is the median of the rounds.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import date, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

from bench.common import PY, ROOT, Services, new_plant, row, say, table

BASELINE = "6a6d69e"  # main before issue 23's revisions (items 2-4)
TODAY = date(2026, 1, 1)
DAYS = 10
ROUNDS = 5
PRICES = {"wru": 0.7625e-6, "rru": 0.1525e-6}  # eu-central-1 on-demand, USD per unit (bench/cost.py)


# -- the child: one variant's backfill and daily runs ---------------------------------------------------


def child(today: date, days: int) -> dict[str, Any]:
    import powerfactor
    from bench.ingest import WRITES, _count_dynamodb_calls
    from powerfactor.plants import logic as plants
    from powerfactor.runtime.gc_policy import fewer_young_collections
    from powerfactor.sync.run import horizon, sync_plant
    from powerfactor.sync.vendor import MonitoringClient

    fewer_young_collections()  # as the sync worker's process does at import
    calls, units = _count_dynamodb_calls()
    plant = new_plant(plants, f"bench history {time.time()}")

    def take() -> tuple[float, float, int]:
        writes = sum(u for op, u in units.items() if op in WRITES)
        reads = sum(u for op, u in units.items() if op not in WRITES)
        count = sum(calls.values())
        calls.clear(), units.clear()
        return writes, reads, count

    def one(day: date) -> list[float]:
        client = MonitoringClient(os.environ["MONITORING_SERVICE_URL"], today=lambda: day)
        take()
        cpu, wall = time.process_time(), time.perf_counter()
        outcome = sync_plant(plant.id, client, today=day)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        assert outcome.status == "done", outcome
        return [*take(), cpu, wall]

    backfill = []
    while True:
        backfill.append(one(today))
        history_from = plants.get_plant(plant.id).sync.history_from
        if history_from is not None and history_from <= horizon(today, 10):
            break
        assert len(backfill) < 20
    daily = [one(today + timedelta(days=d)) for d in range(1, days + 1)]
    return {"package": powerfactor.__file__, "backfill": backfill, "daily": daily}


# -- the parent ------------------------------------------------------------------------------------------


def _baseline_tree() -> Path:
    tree = Path(tempfile.mkdtemp(prefix="bench-history-"))
    archive = subprocess.run(
        ["git", "archive", BASELINE, "layers/powerfactor/powerfactor"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    return tree / "layers/powerfactor"


def _run(services: Services, layer: Path) -> dict[str, Any]:
    env = services.child_env(
        "SyncWorkerFunction",
        PYTHONPATH=f"{layer}:{ROOT}",
        POWERTOOLS_LOG_LEVEL="ERROR",
        POWERTOOLS_METRICS_DISABLED="true",
        ALERT_BUS_NAME="",  # events only logged, in both variants
    )
    args = [PY, "-m", "bench.history", TODAY.isoformat(), str(DAYS)]
    out = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["package"].startswith(str(layer)), result["package"]
    return result


def _totals(samples: list[dict[str, Any]], part: str) -> dict[str, float]:
    """Units (the same every round) and the median CPU: of all the backfill's runs, or per daily run."""
    per_round = []
    for sample in samples:
        runs = sample[part]
        w, r, c, cpu, wall = (sum(run[i] for run in runs) for i in range(5))
        n = 1 if part == "backfill" else len(runs)
        per_round.append({"wru": w / n, "rru": r / n, "calls": c / n, "cpu": cpu / n, "wall": wall / n})
    return {
        "wru": per_round[-1]["wru"],
        "rru": per_round[-1]["rru"],
        "calls": per_round[-1]["calls"],
        "cpu": statistics.median(p["cpu"] for p in per_round),
        "wall": statistics.median(p["wall"] for p in per_round),
    }


def run(services: Services) -> dict[str, Any]:
    baseline = _baseline_tree()
    current = ROOT / "layers/powerfactor"
    samples: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for _ in range(ROUNDS):  # interleaved: the machine's drift touches both alike
        samples["before"].append(_run(services, baseline))
        samples["after"].append(_run(services, current))
    figures: dict[str, Any] = {}
    table(
        f"Revisions' cost in the common case: before ({BASELINE}) and after, one run, {ROUNDS} rounds "
        "interleaved (goal: after <= 1.2 x before in DynamoDB units and CPU)",
        "case", "variant", "write units", "read units", "units", "$", "DynamoDB calls",
        "CPU (median)", "after / before",
    )  # fmt: skip
    cases = {
        "backfill": "a new plant's 10-year backfill (10 runs)",
        "daily": f"a daily sync, nothing changed (mean of {DAYS} days)",
    }
    for part, label in cases.items():
        before, after = _totals(samples["before"], part), _totals(samples["after"], part)
        for name, t in (("before", before), ("after", after)):
            units = t["wru"] + t["rru"]
            dollars = t["wru"] * PRICES["wru"] + t["rru"] * PRICES["rru"]
            ratio = ""
            if name == "after":
                b_units = before["wru"] + before["rru"]
                b_dollars = before["wru"] * PRICES["wru"] + before["rru"] * PRICES["rru"]
                ratio = (
                    f"units {units / b_units:.2f} x, $ {dollars / b_dollars:.2f} x, "
                    f"CPU {t['cpu'] / before['cpu']:.2f} x"
                )
            cells = (f"{t['wru']:,.1f}", f"{t['rru']:,.1f}", f"{units:,.1f}", f"${dollars:.7f}")
            row(
                label if name == "before" else "",
                name,
                *cells,
                f"{t['calls']:,.0f}",
                f"{t['cpu']:.3f} s",
                ratio,
            )
        figures[part] = {"before": before, "after": after}
    say(
        "\n$: the units at the DynamoDB prices of bench/cost.py; CPU: the sync process's, all its "
        "threads (Lambda bills wall time: see the cost section's durations)."
    )
    return figures


if __name__ == "__main__":
    today, days = date.fromisoformat(sys.argv[1]), int(sys.argv[2])
    print(json.dumps(child(today, days)))
