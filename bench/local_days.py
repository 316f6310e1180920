"""The 10-year report by local day against one raw Query, without the ingest section's backfill.

    .venv/bin/python -m bench.local_days [--runs N]

DynamoDB Local; ten years (2016-2025) of the simulator's hours written straight into the
datapoints table, and as the original's hourly rows; then, as bench/reports.py measures them,
one raw Query of the hourly rows and the report handler (every page, limit 10,000) by UTC day
and by local day (Europe/Berlin, Asia/Kolkata).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date

from bench.common import local_services, median_p95, ms, new_plant, row, table
from bench.reports import GOAL, _api_caller, _load_hourly_rows, _raw_query, _timed

FIRST, LAST = date(2016, 1, 1), date(2025, 12, 31)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args(argv).runs
    sys.path.insert(0, "layers/powerfactor")
    with local_services() as services:
        os.environ.update(services.child_env("DataApiFunction"))
        from powerfactor.datapoints import store as datapoints
        from powerfactor.plants import logic as plants
        from powerfactor.runtime.settings import reset_settings
        from tests.support import simulated

        reset_settings()
        plant_id = new_plant(plants, "Local days", capacity_kwp=4500.0).id
        datapoints.write_days(plant_id, simulated(plant_id, FIRST, date(2026, 1, 1)))
        client = services.client()
        _load_hourly_rows(client, plant_id, FIRST, LAST)
        fetch = _api_caller()
        raw_samples, items = _timed(lambda: _raw_query(client, plant_id, FIRST, LAST), runs)
        raw = median_p95(raw_samples)[0]
        table("10-year reports vs one raw Query of the hourly rows", "report", "buckets (pages)", "median",
              "p95", "raw Query median (items)", "report / raw Query", "goal")  # fmt: skip
        for label, granularity, tz in (
            ("day, UTC", "day", "UTC"), ("day, Europe/Berlin", "day", "Europe/Berlin"),
            ("day, Asia/Kolkata", "day", "Asia/Kolkata"), ("month, Europe/Berlin", "month", "Europe/Berlin"),
        ):  # fmt: skip
            answers = [fetch(plant_id, str(FIRST), str(LAST), granularity, tz) for _ in range(runs)]
            buckets, pages = answers[-1]["items"], answers[-1]["pages"]
            median, p95 = median_p95([answer["seconds"] for answer in answers])
            ratio = median / raw
            row(label, f"{buckets:,} ({pages})", ms(median), ms(p95), f"{ms(raw)} ({items:,})",
                f"**{ratio:.3f} x**", f"<= {GOAL} x: {'met' if ratio <= GOAL else 'not met'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
