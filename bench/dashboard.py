"""Time to a drawn chart: the dashboard (as `sam build` and `make dev` bundle it) in headless
Chromium, against the whole local stack in this process, for a plant with one year of hourly data
(created over the API, backfilled by the real sync from the simulator).

Each sample is a fresh page load of the plant page for the last 365 days by hour (8,760+ points
per series, two charts): from the navigation's start to the page's `powerfactor:chart-drawn`
mark (set in the frame after the charts were drawn, once painted), read from the browser's
Performance API, with the report request's own share (its resource timing) beside it. One
warm-up load first (the functions' workers are then warm).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

from bench.common import quiet_subprocesses, row, say, table

SAMPLES = 7
GOAL_S = 1.0


def run() -> None:
    from devstack.dynamodb import free_port
    from devstack.stack import Stack, StackConfig
    from devstack.template import ROOT

    if not (ROOT / "functions" / "dashboard" / "static" / "index.html").exists():
        say("dashboard: not built (node dashboard/build.mjs); skipped")
        return
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        say("dashboard: Chromium missing (`make browser`); skipped")
        return
    ports = {f"{name}_port": free_port() for name in ("api", "dynamodb", "monitoring", "sqs")}
    parameters = {"SyncUntilYear": "1", "SyncEveryRun": "1", "LogLevel": "WARNING"}
    with tempfile.TemporaryDirectory() as tmp, quiet_subprocesses():
        stack = Stack(StackConfig(**ports, parameters=parameters, schedule_interval=86_400,
                                  dev_key_file=Path(tmp) / "api-key"))  # fmt: skip
        stack.start()
        try:
            # the gateway prints a line per request on stderr
            with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
                samples = _measure(stack)
        finally:
            stack.stop()
    table("Dashboard: time to a drawn chart (1 year by hour, 2 charts)", "figure", "median", "max", "goal")
    total = [s[0] for s in samples]
    fetch = [s[1] for s in samples]
    goal = f"<= {GOAL_S * 1000:.0f} ms"
    row("navigation start -> charts drawn", f"{median(total):.0f} ms", f"{max(total):.0f} ms", goal)
    row("of which the report request", f"{median(fetch):.0f} ms", f"{max(fetch):.0f} ms", "")
    row("points per series", f"{samples[0][2]:,}", "", "")


def _measure(stack) -> list[tuple[float, float, int]]:  # noqa: ANN001
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.support import headless_chromium, http, wait_for

    status, plant = http(stack, "POST", "/api/solar-plant/", {"name": "bench dashboard", "timezone": "UTC"})
    assert status == 201, plant
    today = datetime.now(UTC).date()
    start = today - timedelta(days=365)

    def backfilled() -> bool:  # the first run is over and reached a year back
        sync = http(stack, "GET", f"/api/solar-plant/plant/{plant['id']}")[1]["sync"]
        return bool(sync["last_success_at"] and sync["history_from"] <= start.isoformat())

    wait_for(backfilled, "the bench plant's backfill")
    url = (f"{stack.api_url}/dashboard/#/plant/{plant['id']}"
           f"?from={start}&to={today}&granularity=hour&tz=UTC")  # fmt: skip
    browser = headless_chromium()
    samples = []
    try:
        browser.get(f"{stack.api_url}/dashboard/")
        browser.execute_script(
            "sessionStorage.setItem('powerfactor.key', arguments[0]);"
            "sessionStorage.setItem('powerfactor.who',"
            " JSON.stringify({id: 'dev', name: 'dev', scopes: ['read']}))",
            stack.dev_key[0],
        )
        for n in range(SAMPLES + 1):
            browser.get("about:blank")
            browser.get(url)
            mark = WebDriverWait(browser, 120, poll_frequency=0.05).until(
                lambda b: b.execute_script(
                    "const m = performance.getEntriesByName('powerfactor:chart-drawn');"
                    "if (!m.length) return null;"
                    "const r = performance.getEntriesByType('resource')"
                    ".filter(e => e.name.includes('/report'));"
                    "return [m[0].startTime, r.reduce((s, e) => s + e.duration, 0),"
                    " window.powerfactor.report.items.length]"
                )
            )
            assert mark[2] >= 8760, f"only {mark[2]} hours drawn"
            if n:  # the first load warms the workers up
                samples.append(tuple(mark))
            time.sleep(0.2)
    finally:
        browser.quit()
    return samples
