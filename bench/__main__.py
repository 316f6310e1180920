"""`make bench`: figures measured on this machine in one run, each beside its reference.

Benchmarks print figures; they never fail on a timing. Each run's output is also kept as
bench/results/<UTC start>.md (`--no-record`: not kept), where the history lives. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import record_to, say

SECTIONS = ("cold", "ingest", "reports", "auth", "load", "fanout", "cost", "history", "dashboard")
RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only these parts")
    parser.add_argument("--no-record", action="store_true", help="do not keep the output in bench/results/")
    args = parser.parse_args()
    only = set(args.only or SECTIONS)
    now = datetime.now(UTC)
    name = f"{now:%Y-%m-%dT%H%MZ}" + ("" if only == set(SECTIONS) else "-" + "-".join(sorted(only)))
    with contextlib.nullcontext() if args.no_record else record_to(RESULTS / f"{name}.md"):
        run(only, now)
    if not args.no_record:
        print(f"(kept in bench/results/{name}.md)")
    return 0


def run(only: set[str], now: datetime) -> None:
    started = time.monotonic()
    say(
        f"# PowerFactor benchmarks, {now:%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform(terse=True)}"
    )
    if only & {"cold", "ingest", "reports", "auth", "cost", "history"}:
        from bench import auth, cold, cost, history, ingest, reports
        from bench.common import local_services

        with local_services() as services:
            if "cold" in only:
                cold.cold_start(services)
                cold.build_size()
            ten_years = ingest.run(services) if "ingest" in only else None
            if "reports" in only:
                reports.run(services, ten_years["plant_id"] if ten_years else ingest.backfilled(services))
            if "auth" in only:
                auth.run(services)
            if "cost" in only:
                # the in-process syncs' metrics (EMF lines on stdout) are not figures; the tables
                # go to the original stdout (bench.common.say)
                with contextlib.redirect_stdout(io.StringIO()):
                    cost.run(services)
            if "history" in only:
                history.run(services)
    if "load" in only:
        from bench import load

        load.run()
    if "dashboard" in only:
        from bench import dashboard

        dashboard.run()
    if "fanout" in only:
        from bench import fanout

        fanout.run()
    say(f"\n(all of it in {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
