"""Helpers shared by test modules (fixtures live in the conftest files)."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import HTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from devstack.dynamodb import free_port
from devstack.monitoring import hour_values
from devstack.template import ROOT
from powerfactor.access import keys as apikeys
from powerfactor.access.principal import DEFAULT_ACCOUNT, Principal
from powerfactor.datapoints.schemas import Datapoint
from powerfactor.sync.run import horizon

# hypothesis settings of the property tests: pure functions draw many examples; handlers over moto
# cost tens of milliseconds per call, so few examples, with the fixtures reused across them
PURE = settings(max_examples=200, deadline=None, database=None)
MOTO = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def simulated(plant_id: int, start: date, end: date) -> list[Datapoint]:
    """What the monitoring simulator holds for [start, end): the truth stored data is checked against."""
    hour = datetime(start.year, start.month, start.day, tzinfo=UTC)
    stop = datetime(end.year, end.month, end.day, tzinfo=UTC)
    points = []
    while hour < stop:
        points.append(Datapoint(hour, *hour_values(str(plant_id), hour.replace(tzinfo=None))))
        hour += timedelta(hours=1)
    return points


def concurrently(calls: list) -> tuple[list, list[Exception]]:
    """Run the calls all at once, each in its own thread; return (results, errors)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
    results, errors = [], []
    for future in futures:
        error = future.exception()
        (errors.append(error) if error else results.append(future.result()))
    return results, errors


def error_kinds(errors: list[Exception]) -> str:
    """The errors of `concurrently` for an assertion message: a count per type, and each odd one
    out in full (pytest would cut a long list of reprs in the middle, where the odd one is)."""
    from collections import Counter

    counts = Counter(type(e).__name__ for e in errors)
    common = counts.most_common(1)[0][0] if counts else None
    odd = [
        f"{type(e).__name__}: {e!r} (cause: {e.__cause__!r})" for e in errors if type(e).__name__ != common
    ]
    return f"{dict(counts)}; {odd}"


def caller(
    scopes: tuple[str, ...] = ("read", "write"),
    key_id: str = "testkey00000",
    account_id: str = DEFAULT_ACCOUNT,
    plants: frozenset[int] | None = None,
) -> dict[str, str]:
    """`requestContext.authorizer` of a request the authorizer passed with a key of these scopes
    (of this account, restricted to these plants)."""
    key = apikeys.ApiKey(
        key_id, "tests", frozenset(scopes), "0" * 64, datetime.now(UTC), account_id=account_id, plants=plants
    )
    return {"principalId": key_id, **apikeys.authorizer_context(key, ())}


def principal(
    account_id: str = DEFAULT_ACCOUNT,
    scopes: tuple[str, ...] = ("read", "write"),
    key_id: str = "testkey00000",
    plants: frozenset[int] | None = None,
) -> Principal:
    """The principal of a request with such a key, for calling the domain directly."""
    return Principal(account_id, key_id, "tests", frozenset(scopes), plants=plants)


# The default account's read + write key: what today's keys are after the migration.
OWNER = principal()


def expected_row(points: list[Datapoint], hours_total: int, capacity: float | None = None) -> dict:
    """A report row as the API must give it for these hours: fsums rounded to 6 decimals, and
    the yield KPIs of a plant of this capacity (kWp; None: no capacity, null KPIs)."""

    def measure(e: list[float], o: list[float]) -> dict:
        se, so = math.fsum(e), math.fsum(o)
        return {
            "expected": round(se, 6),
            "observed": round(so, 6),
            "observed_to_expected": round(so / se, 6) if se else None,
        }

    return {
        "hours_present": len(points),
        "hours_total": hours_total,
        "energy": measure([p.expected_energy for p in points], [p.observed_energy for p in points]),
        "irradiation": measure(
            [p.expected_irradiation for p in points], [p.observed_irradiation for p in points]
        ),
        **kpis(points, capacity),
    }


def kpis(points: list[Datapoint], capacity: float | None) -> dict:
    """Specific yields and the IEC 61724-1 performance ratio, straight from the definitions."""
    if capacity is None:
        return {"specific_yield": None, "expected_specific_yield": None, "performance_ratio": None}
    energy = math.fsum(p.observed_energy for p in points)
    irradiation_kwh_m2 = math.fsum(p.observed_irradiation for p in points) / 1000
    return {
        "specific_yield": round(energy / capacity, 6),
        "expected_specific_yield": round(math.fsum(p.expected_energy for p in points) / capacity, 6),
        "performance_ratio": round((energy / capacity) / (irradiation_kwh_m2 / 1.0), 6)
        if irradiation_kwh_m2 > 0
        else None,
    }


# Each key's tier out of the way (its rate and daily quota), unless a test sets them: the tests
# that measure them do (tests/e2e/test_quota.py; in-process: tests/unit/functions/test_quota_handlers.py).
UNLIMITED_TIERS = {
    f"{tier}Tier{what}": value
    for tier in ("Standard", "Large")
    for what, value in (("RateLimit", "10000"), ("BurstLimit", "5000"), ("DailyQuota", "1000000000"))
}


@contextmanager
def in_process_stack(key_dir: Path, profile: str = "quiet", **parameters: str) -> Iterator[object]:
    """The whole local stack in this process, on free ports, with these template parameters (and
    this profile of the monitoring simulator); the keys' tiers unlimited unless given."""
    from devstack.dynamodb import free_port
    from devstack.stack import Stack, StackConfig

    parameters = {**UNLIMITED_TIERS, **parameters}
    config = StackConfig(
        api_port=free_port(), dynamodb_port=free_port(), monitoring_port=free_port(), sqs_port=free_port(),
        parameters=parameters, schedule_interval=3600, dev_key_file=key_dir / "api-key",
        monitoring_profile=profile,
    )  # fmt: skip
    running = Stack(config)
    running.start()
    try:
        yield running
    finally:
        running.stop()


WAIT_CAP_S = 240.0  # how long a wait may take before the test fails; it ends as soon as its condition holds


def wait_for[T](condition: Callable[[], T], what: str, cap: float = WAIT_CAP_S) -> T:
    """Poll the condition until it gives something truthy, and return that; fail the test if it
    does not within the cap (which is generous: a busy machine is slow, never wrong)."""
    import pytest

    started = time.monotonic()
    while not (found := condition()):
        if time.monotonic() - started > cap:
            pytest.fail(f"{what}: not done after {cap:.0f} s")
        time.sleep(0.5)
    return found


def http(stack: Any, method: str, path: str, body: object = None, key: str | None = None) -> tuple[int, Any]:
    """A request to a started stack's API, with its development key unless another is given:
    (status, decoded JSON body or None)."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key or stack.dev_key[0]}"}
    request = urllib.request.Request(stack.api_url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def plant_state(stack: Any, plant_id: int) -> dict:
    return http(stack, "GET", f"/api/solar-plant/plant/{plant_id}")[1]["sync"]


def fully_synced(stack: Any, plant_id: int, today: date) -> bool:
    """The plant's sync (one year back) is complete up to today, with no gap and no error."""
    state = plant_state(stack, plant_id)
    return (
        state["history_from"] == horizon(today, 1).isoformat()
        and state["synced_until"] == today.isoformat()
        and not state["missing_days"]
        and state["last_error"] is None
    )


class WebhookVerifier:
    """A receiver's verification of signed webhooks, written from the README's recipe and not from
    powerfactor.alerts.webhook: the HMAC-SHA256 of `<timestamp>.<body>` recomputed, compared with
    hmac.compare_digest against each `v1=` signature, a timestamp within `window` seconds of now,
    and each (timestamp, signature) accepted once. `check` gives why a delivery is refused, or
    None if it is genuine."""

    def __init__(self, secret: str, window: int = 300, clock: Callable[[], float] = time.time) -> None:
        self.secret, self.window, self.clock = secret.encode(), window, clock
        self.seen: set[tuple[str, str]] = set()

    def check(self, headers: dict[str, str], body: bytes) -> str | None:
        headers = {k.lower(): v for k, v in headers.items()}
        timestamp = headers.get("powerfactor-timestamp", "")
        signatures = [
            part.strip()[3:]
            for part in headers.get("powerfactor-signature", "").split(",")
            if part.strip().startswith("v1=")
        ]
        if not timestamp.isdigit() or not signatures:
            return "unsigned"
        if abs(self.clock() - int(timestamp)) > self.window:
            return "stale"
        expected = hmac.new(self.secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        matched = [s for s in signatures if hmac.compare_digest(s, expected)]
        if not matched:
            return "bad signature"
        if (timestamp, matched[0]) in self.seen:
            return "replay"
        self.seen.add((timestamp, matched[0]))
        return None


@contextmanager
def serving[Server: HTTPServer](server: Server) -> Iterator[Server]:
    """`server` answering in a daemon thread until the block ends, then shut down and closed."""
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def base_url(server: HTTPServer) -> str:
    """`http://127.0.0.1:PORT/` of a server bound to the loopback address."""
    return f"http://127.0.0.1:{server.server_address[1]}/"


@contextmanager
def webhook_receiver(secret: str | None = None) -> Iterator[tuple[str, list[dict]]]:
    """An HTTP endpoint on a free port of 127.0.0.1 that keeps what is POSTed to it: (its URL, the
    requests received so far, each {"headers", "body", "event", "refused"}), as an alert webhook's
    receiver sees them. With a secret it verifies each (WebhookVerifier): 204 if genuine, else 400
    and `refused` says why."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict] = []
    verifier = WebhookVerifier(secret) if secret else None
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with lock:
                refused = verifier.check(headers, body) if verifier else None
                received.append(
                    {"headers": headers, "body": body, "event": json.loads(body), "refused": refused}
                )
            self.send_response(400 if refused else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as server:
        yield base_url(server) + "hook", received


@dataclass
class MakeDev:
    """A `make dev` started as a newcomer starts it, on free ports."""

    process: subprocess.Popen
    api_port: int
    db_port: int
    monitoring_port: int
    lines: list[str] = field(default_factory=list)  # everything it printed so far

    @property
    def printed(self) -> str:
        return "".join(self.lines)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


@contextmanager
def make_dev(*args: str) -> Iterator[MakeDev]:
    """`make dev ARGS="--in-memory <ports> <args>"` in its own process group, up (it printed
    "Ctrl-C stops everything") within 120 s; stopped with Ctrl-C (SIGINT) afterwards if the test
    did not stop it itself."""
    ports = free_port(), free_port(), free_port(), free_port()
    options = f"--in-memory --api-port {ports[0]} --dynamodb-port {ports[1]} --monitoring-port {ports[2]}"
    options += f" --sqs-port {ports[3]} " + " ".join(args)
    process = subprocess.Popen(
        ["make", "--no-print-directory", "dev", f"ARGS={options}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives it
    )
    dev = MakeDev(process, *ports[:3])
    deadline = time.monotonic() + 120
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            pytest.fail("make dev exited before it was up:\n" + dev.printed)
        dev.lines.append(line)
        if "Ctrl-C stops everything" in line:
            break
    else:
        pytest.fail("make dev did not come up:\n" + dev.printed)
    # keep reading its output, or the stack blocks once the pipe is full
    threading.Thread(target=lambda: dev.lines.extend(process.stdout), daemon=True).start()
    try:
        yield dev
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def headless_chromium(downloads: Path | None = None) -> Any:
    """Debian's Chromium, headless, driven through its chromedriver (`make browser` installs both),
    with the console kept for reading and, given `downloads`, files saved there without asking.
    None when either is missing."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if downloads is not None:
        options.add_experimental_option(
            "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
        )
    browser = webdriver.Chrome(options=options, service=Service(driver))
    if downloads is not None:
        behaviour = {"behavior": "allow", "downloadPath": str(downloads)}
        browser.execute_cdp_cmd("Page.setDownloadBehavior", behaviour)
    return browser
