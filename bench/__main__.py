"""`make bench`: figures measured on this machine in one run, each beside its reference.

Benchmarks print figures; they never fail on a timing. See bench/README.md.
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

SECTIONS = ("cold", "ingest", "reports", "auth", "load", "fanout", "cost", "dashboard")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only these parts")
    args = parser.parse_args()
    only = set(args.only or SECTIONS)
    started = time.monotonic()
    print(
        f"# PowerFactor benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform(terse=True)}"
    )
    if only & {"cold", "ingest", "reports", "auth", "cost"}:
        from bench import auth, cold, cost, ingest, reports
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
    if "load" in only:
        from bench import load

        load.run()
    if "dashboard" in only:
        from bench import dashboard

        dashboard.run()
    if "fanout" in only:
        from bench import fanout

        fanout.run()
    print(f"\n(all of it in {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
