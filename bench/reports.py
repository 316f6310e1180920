"""3. Report and /data latency and memory: the data API's handler against DynamoDB Local, beside
one raw Query and beside older commits' code.

The plant is the one the 10-year ingest backfilled (2016-01-01 .. 2025-12-31). The reference
is the original's layout: one item per plant-hour (here in a table of its own), read with one
paginated boto3 Query of the range, as a report over rows would have to read it; for a year of
hours (/data, hour report) also the original's own figure, 76-81 ms over HTTP. Each code (today's,
and each `--against` commit's, extracted with `git archive`) runs the handler in a child process
of its own (`serve`), called in turns, sample by sample, on the same plant.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
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
    median_p95,
    ms,
    row,
    short_rev,
    table,
)

LAST = date(2025, 12, 31)
RANGES = {
    "1 month": date(2025, 12, 1),
    "1 year": date(2025, 1, 1),
    "10 years": date(2016, 1, 1),
}
RUNS = {"1 month": 21, "1 year": 21, "10 years": 11}
SLOW_RUNS = 3  # the 10-year raw Query takes ~5-9 s a run (the hourly reads of 10 years too, before issue 13)
GOAL = 0.2  # 10-year reports and /data cost at most this share of the raw Query
YEAR_GOAL = 0.080  # seconds: a year of hours (/data, hour report), the original's 76-81 ms
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


def _api_caller() -> Callable[..., dict[str, Any]]:
    """Call DataApiFunction's handler in this process as API Gateway would, every page of one
    report or of /data (limit 10,000); return the buckets or hours, the pages, the seconds in the
    handler and, if asked, the most memory one handler call allocated at once (tracemalloc's peak
    above what was allocated before it; tracing slows the call, so those calls are not timed).

    Only the handler calls are timed: decoding each 3 MB body here (json.loads, to count the
    items and find the cursor) is the client's work, 15-50 ms a year of hours on this machine.
    Runs the code of the tree it is started in (today's, or an older commit's: `serve`)."""
    from bench.common import layer_module
    from devstack.apigateway import build_event, match_route
    from devstack.lambdas import FakeContext, load_handler
    from devstack.template import load_template

    apikeys = layer_module("powerfactor.access.keys", "powerfactor.apikeys")
    layer_module("powerfactor.runtime.settings", "powerfactor.settings").reset_settings()
    template = load_template()
    routes = template.api_routes()
    handler = load_handler(template.functions()["DataApiFunction"], template.layer_dirs())
    key = apikeys.ApiKey("bench0000000", "bench", frozenset({"read"}), "0" * 64, datetime.now(UTC))
    caller = {"principalId": key.key_id, **apikeys.authorizer_context(key)}

    def fetch(
        plant_id: int, first: str, last: str, granularity: str | None, tz: str = "UTC", memory: bool = False
    ) -> dict[str, Any]:
        """Every page of a report of `granularity`, or of /data if None."""
        cursor, items, pages, seconds, peak = None, 0, 0, 0.0, 0
        route_path = "/api/solar-plant/data/" if granularity is None else "/api/solar-plant/report/"
        query = f"plant-id={plant_id}&from={first}&to={last}&limit=10000&tz={tz}"
        if granularity is not None:
            query += f"&granularity={granularity}"
        while True:
            path = f"{route_path}?{query}" + (f"&cursor={cursor}" if cursor else "")
            route, params, _ = match_route(routes, "GET", route_path)
            assert route is not None
            event = build_event(route, "GET", path, params, [], b"", "Prod", authorizer=caller)
            context = FakeContext("DataApiFunction", 256, 29)  # each call its own budget
            if memory:
                tracemalloc.start()
                before = tracemalloc.get_traced_memory()[0]
                reply = handler(event, context)
                peak = max(peak, tracemalloc.get_traced_memory()[1] - before)
                tracemalloc.stop()
            else:
                started = time.perf_counter()
                reply = handler(event, context)
                seconds += time.perf_counter() - started
            assert reply["statusCode"] == 200, reply
            page = json.loads(reply["body"])
            items, pages = items + len(page["items"]), pages + 1
            cursor = page["next_cursor"]
            if cursor is None:
                return {"items": items, "pages": pages, "seconds": seconds, "peak": peak}

    return fetch


def serve() -> None:
    """The child (`python -m bench.reports serve`, in the tree whose code is measured): one JSON
    request a line on stdin (`fetch`'s arguments), one JSON answer a line. The handler's own
    output (its logs, its metrics) goes nowhere."""
    answers = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    fetch = _api_caller()
    for line in sys.stdin:
        print(json.dumps(fetch(**json.loads(line))), file=answers, flush=True)


class _Code:
    """A child process serving `fetch` with the code of one tree."""

    def __init__(self, services: Services, root: Path) -> None:
        env = services.child_env("DataApiFunction", PYTHONPATH=f"{root / 'layers/powerfactor'}:{root}")
        self.process = subprocess.Popen(
            [PY, "-m", "bench.reports", "serve"], cwd=root, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def fetch(self, **ask: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        print(json.dumps(ask), file=self.process.stdin, flush=True)
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"the report bench's child stopped ({self.process.wait()})")
        return json.loads(answer)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def _timed(call: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    """Samples of `call`: its wall time, or the seconds it reports as the last of a tuple."""
    if runs > SLOW_RUNS:
        call()  # one warm-up call, not counted (the slow ones run after warm ones anyway)
    samples, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = call()
        elapsed = time.perf_counter() - started
        samples.append(result[-1] if isinstance(result, tuple) else elapsed)
    return samples, result


def _side_by_side(codes: dict[str, _Code], ask: dict[str, Any], runs: int) -> dict[str, dict[str, Any]]:
    """`runs` timed fetches by each code, taking turns (a slow moment of the machine hits them
    alike; one warm-up each first unless the fetch is a slow one), then one traced for memory."""
    if runs > SLOW_RUNS:
        for code in codes.values():
            code.fetch(**ask)
    samples: dict[str, list[float]] = {label: [] for label in codes}
    last: dict[str, dict[str, Any]] = {}
    for _ in range(runs):
        for label, code in codes.items():
            last[label] = code.fetch(**ask)
            samples[label].append(last[label]["seconds"])
    for label, code in codes.items():
        last[label]["peak"] = code.fetch(**ask, memory=True)["peak"]
        last[label]["samples"] = samples[label]
    return last


def run(services: Services, plant_id: int, against: Sequence[str] = ()) -> None:
    client = services.client()
    _load_hourly_rows(client, plant_id, RANGES["10 years"], LAST)
    refs = {short_rev(rev): rev for rev in against}
    with contextlib.ExitStack() as stack:
        roots = {"now": ROOT} | {label: stack.enter_context(code_at(rev)) for label, rev in refs.items()}
        codes = {label: _Code(services, root) for label, root in roots.items()}
        for code in codes.values():
            stack.callback(code.close)
        _measure(client, plant_id, codes)


def _measure(client: Any, plant_id: int, codes: dict[str, _Code]) -> None:
    refs = [label for label in codes if label != "now"]
    beside = [cell for ref in refs for cell in (f"{ref}: median", "now / " + ref)]
    memory = ["peak memory: now", *(f"{ref}" for ref in refs)]
    table(
        "Reports and /data: the handler called directly (every page, limit 10,000; the handler's time, "
        "not the bench decoding the bodies) vs one raw Query of the same range's hourly rows, DynamoDB Local"
        + (f"; beside the code of {', '.join(refs)} (same run, taking turns)" if refs else ""),
        "range", "route", "items (pages)", "runs", "median", "p95", *beside, *memory,
        "raw Query median (items)", "route / raw Query",
    )  # fmt: skip
    medians, ratios = {}, {}
    for label, first in RANGES.items():
        slow = SLOW_RUNS if label == "10 years" else RUNS[label]
        raw_samples, items = _timed(lambda first=first: _raw_query(client, plant_id, first, LAST), slow)
        raw = median_p95(raw_samples)[0]
        cases: list[tuple[str, str | None, str]] = [
            ("/data", None, "UTC"), ("hour report", "hour", "UTC"), ("day report", "day", "UTC"),
            ("month report", "month", "UTC"),
        ]  # fmt: skip
        if label != "1 month":
            cases.insert(2, (f"hour report, tz={LOCAL_TZ}", "hour", LOCAL_TZ))
        if label == "10 years":
            cases.append((f"day report, tz={LOCAL_TZ}", "day", LOCAL_TZ))
        for name, granularity, tz in cases:
            hourly = granularity in (None, "hour")
            ask = {"plant_id": plant_id, "first": str(first), "last": str(LAST), "granularity": granularity,
                   "tz": tz}  # fmt: skip
            got = _side_by_side(codes, ask, slow if hourly else RUNS[label])
            now = got["now"]
            median, p95 = median_p95(now["samples"])
            medians[(label, name)], ratios[(label, name)] = median, median / raw
            others = []
            for ref in refs:
                was = median_p95(got[ref]["samples"])[0]
                differs = f" ({got[ref]['items']:,} items!)" if got[ref]["items"] != now["items"] else ""
                others += [ms(was) + differs, f"**{median / was:.2f} x**"]
            row(
                label, name, f"{now['items']:,} ({now['pages']})", len(now["samples"]), ms(median), ms(p95),
                *others, *(_mib(got[code]["peak"]) for code in ["now", *refs]),
                f"{ms(raw)} ({items:,})", f"{median / raw:.2f} x",
            )  # fmt: skip
    table("Reports and /data against the goals", "figure", "measured", "reference", "goal")
    for name in ("/data", "hour report"):
        median = medians[("1 year", name)]
        row(
            f"1-year {name} (8,760 hours), median", f"**{ms(median)}**",
            "the original (Django on Postgres): 76-81 ms over HTTP",
            f"<= {ms(YEAR_GOAL)}: {'met' if median <= YEAR_GOAL else 'not met'}",
        )  # fmt: skip
    for name in ("/data", "hour report", "day report", "month report", f"day report, tz={LOCAL_TZ}"):
        ratio = ratios[("10 years", name)]
        row(
            f"10-year {name} / raw Query of its 87,672 hourly rows", f"**{ratio:.3f} x**",
            f"raw Query {ms(medians[('10 years', name)] / ratio)}",
            f"<= {GOAL} x: {'met' if ratio <= GOAL else 'not met'}",
        )  # fmt: skip


def _mib(allocated: int) -> str:
    return f"{allocated / 2**20:,.1f} MiB"


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        serve()
    else:
        sys.exit("run it as `python -m bench --only reports`")
