"""`make bench`: figures measured on this machine in one run, each beside its reference.

Benchmarks print figures; they never fail on a timing. Each run's output is also kept as
bench/results/<UTC start>.md (`--no-record`: not kept), where the history lives. Cold start,
ingest, reports and load also run the code of older commits in the same run (`--against`, by
default the layout before issue 22), each figure beside theirs. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import BEFORE, record_to, say, short_rev

SECTIONS = ("cold", "ingest", "reports", "auth", "load", "fanout", "cost", "history", "dashboard")
RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only these parts")
    parser.add_argument("--no-record", action="store_true", help="do not keep the output in bench/results/")
    parser.add_argument(
        "--against", action="append", metavar="REV",
        help=f"also run this commit's code, figures side by side (repeatable; default {BEFORE}; 'none')",
    )  # fmt: skip
    args = parser.parse_args()
    only = set(args.only or SECTIONS)
    against = [rev for rev in (args.against or [BEFORE]) if rev != "none"]
    for rev in against:
        short_rev(rev)  # an unknown commit fails here, not minutes into the run
    now = datetime.now(UTC)
    name = f"{now:%Y-%m-%dT%H%MZ}" + ("" if only == set(SECTIONS) else "-" + "-".join(sorted(only)))
    with contextlib.nullcontext() if args.no_record else record_to(RESULTS / f"{name}.md"):
        run(only, now, against)
    if not args.no_record:
        print(f"(kept in bench/results/{name}.md)")
    return 0


def run(only: set[str], now: datetime, against: list[str]) -> None:
    started = time.monotonic()
    say(
        f"# PowerFactor benchmarks, {now:%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform(terse=True)}"
    )
    say(f"\ncode: {short_rev('HEAD')}{' with changes not committed' * _dirty()}" + "".join(
        f"; beside {short_rev(rev)} ({rev})" for rev in against
    ) + f"; load average at the start {_load()}")  # fmt: skip
    if only & {"cold", "ingest", "reports", "auth", "cost", "history"}:
        from bench import auth, cold, cost, history, ingest, reports
        from bench.common import local_services

        with local_services() as services:
            if "cold" in only:
                cold.cold_start(services, against)
                cold.build_size()
            ten_years = ingest.run(services, against) if "ingest" in only else None
            if "reports" in only:
                plant_id = ten_years["plant_id"] if ten_years else ingest.backfilled(services)
                reports.run(services, plant_id, against)
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

        load.run(against)
    if "dashboard" in only:
        from bench import dashboard

        dashboard.run()
    if "fanout" in only:
        from bench import fanout

        fanout.run()
    say(f"\n(all of it in {time.monotonic() - started:.0f} s; load average at the end {_load()})")


def _load() -> str:
    """The machine's load average over 1, 5 and 15 minutes (the figures assume a quiet machine)."""
    return ", ".join(f"{load:.2f}" for load in os.getloadavg())


def _dirty() -> bool:
    from bench.common import ROOT

    changes = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                             capture_output=True, text=True, check=True)  # fmt: skip
    return bool(changes.stdout.strip())


if __name__ == "__main__":
    sys.exit(main())
