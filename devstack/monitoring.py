"""A simulator of the monitoring service (contract: README, "The monitoring service"), failures injected.

    GET /?plant-id=<id>&from=YYYY-MM-DD&to=YYYY-MM-DD    (`to` exclusive)

answers a JSON array of hourly items, as the real service does. Values are deterministic per
(plant id, hour): `hour_values()` gives them, so tests can compute exact expected sums. Failures
are injected at seeded, configurable rates (see `Profile` and the profiles in `PROFILES`).

Where the real service's behaviour is unknown, the simulator chooses (documented in the README):
bad requests (missing or malformed parameters, `from > to`) get `{"error": ...}` with HTTP 200,
like its usual failure; `from == to` is an empty array.

Run on its own:  python -m devstack.monitoring --port 5000 --profile flaky
Control while running:  POST /__control/down?seconds=2   (stops listening: connections refused)
                        POST /__control/profile?name=chaos
                        POST /__control/factor?plant-id=3&factor=0.5   (observed energy x 0.5)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import signal
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

VALUE_RANGE = 101.0
_FIELDS = ("expected", "observed")
_WORDS = struct.Struct("<4I")
#: What a request can get. `garbage` is a body that is not JSON, `object` a JSON object that is
#: neither data nor an error: both are failures no client should take for data.
OUTCOMES = ("ok", "error", "500", "503", "slow", "down", "garbage", "object")
_MALFORMATIONS = (
    "missing_field", "null", "string", "negative", "nan", "infinity", "duplicate", "bad_datetime",
)  # fmt: skip


def hour_values(plant_id: str, hour: datetime) -> tuple[float, float, float, float]:
    """The service's values for one plant and hour, uniform in [0, 101), uncorrelated.

    Returns (expected energy, expected irradiation, observed energy, observed irradiation).
    """
    # isoformat()[:13] is "%Y-%m-%dT%H" without strftime's cost (the simulator's CPU shares
    # this machine with what the benchmarks measure)
    digest = hashlib.blake2b(f"{plant_id}|{hour.isoformat()[:13]}".encode(), digest_size=16).digest()
    return tuple(w / 2**32 * VALUE_RANGE for w in _WORDS.unpack(digest))


def item(plant_id: str, hour: datetime, factor: float = 1.0) -> dict[str, Any]:
    """One hour's item; `factor` scales the observed energy (a plant made to underperform)."""
    ee, ei, oe, oi = hour_values(plant_id, hour)
    oe = oe * factor if factor != 1.0 else oe
    return {
        "datetime": hour.isoformat(timespec="seconds"),  # naive: "%Y-%m-%dT%H:%M:%S"
        "expected": {"energy": ee, "irradiation": ei},
        "observed": {"energy": oe, "irradiation": oi},
    }


@dataclass(frozen=True)
class Profile:
    """Failure rates: per request, except `drop_rate` and `malformed_rate`, which are per item."""

    error_rate: float = 0.0  # HTTP 200 with {"error": ...}
    server_error_rate: float = 0.0  # HTTP 500 or 503
    slow_rate: float = 0.0  # answer after `slow_seconds`
    slow_seconds: float = 15.0
    down_rate: float = 0.0  # drop the connection and stop listening for `down_seconds`
    down_seconds: float = 1.0
    drop_rate: float = 0.0  # leave an hour out
    malformed_rate: float = 0.0  # corrupt an item (see _MALFORMATIONS)


PROFILES: dict[str, Profile] = {
    "quiet": Profile(),
    "flaky": Profile(
        error_rate=0.1, server_error_rate=0.05, slow_rate=0.02, drop_rate=0.001, malformed_rate=0.001
    ),
    "chaos": Profile(
        error_rate=0.2,
        server_error_rate=0.15,
        slow_rate=0.05,
        down_rate=0.03,
        drop_rate=0.01,
        malformed_rate=0.01,
    ),
    # a degraded service that lost its history: `[]` for every range (re-syncs must keep the store)
    "amnesiac": Profile(drop_rate=1.0),
}


class BadRequest(ValueError):
    pass


def parse_query(query: str) -> tuple[str, date, date]:
    params = parse_qs(query, keep_blank_values=True)

    def one(name: str) -> str:
        values = params.get(name)
        if not values or not values[0].strip():
            raise BadRequest(f"missing parameter {name}")
        return values[0].strip()

    plant_id = one("plant-id")
    try:
        start = date.fromisoformat(one("from"))
        end = date.fromisoformat(one("to"))
    except ValueError as error:
        raise BadRequest(f"malformed date: {error}") from None
    if start > end:
        raise BadRequest("from is after to")
    return plant_id, start, end


class MonitoringSimulator:
    """The simulator: `start()` serves on host:port in a thread; `stop()`; `down(seconds)`."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 5000, profile: Profile | str = "quiet", seed: int = 0
    ) -> None:
        self.host, self.port = host, port
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._restart: threading.Timer | None = None
        self.requests = 0
        self._forced: deque[str] = deque()
        self.factors: dict[str, float] = {}  # plant id -> factor on its observed energy (default 1)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        server = _Server((self.host, self.port), self)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="monitoring", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._restart is not None:
            self._restart.cancel()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def down(self, seconds: float) -> None:
        """Stop listening (connections are refused) for `seconds`, then listen again."""
        with self._lock:
            if self._server is None:
                return
            server, self._server = self._server, None

        def stop() -> None:
            server.shutdown()
            server.server_close()

        threading.Thread(target=stop, daemon=True).start()
        self._restart = threading.Timer(seconds, self._come_back)
        self._restart.daemon = True
        self._restart.start()

    def _come_back(self) -> None:
        for _ in range(50):  # the old socket may take a moment to be released
            try:
                self.start()
                return
            except OSError:
                time.sleep(0.05)

    # -- answers ---------------------------------------------------------------------------
    def _chance(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def force(self, *outcomes: str) -> None:
        """Give the next requests these outcomes, whatever the profile says (see OUTCOMES)."""
        unknown = set(outcomes) - set(OUTCOMES)
        if unknown:
            raise ValueError(f"unknown outcomes {unknown}")
        with self._lock:
            self._forced.extend(outcomes)

    def set_factor(self, plant_id: int | str, factor: float) -> None:
        """Scale a plant's observed energy by `factor` from now on (1 restores it): a plant that
        underperforms deterministically."""
        if factor == 1.0:
            self.factors.pop(str(plant_id), None)
        else:
            self.factors[str(plant_id)] = factor

    def decide(self) -> str:
        """What this request gets: one of OUTCOMES."""
        with self._lock:
            self.requests += 1
            if self._forced:
                return self._forced.popleft()
            p = self.profile
            for outcome, rate in (
                ("down", p.down_rate),
                ("server_error", p.server_error_rate),
                ("error", p.error_rate),
                ("slow", p.slow_rate),
            ):
                if self._chance(rate):
                    return self._rng.choice(("500", "503")) if outcome == "server_error" else outcome
            return "ok"

    def body(self, plant_id: str, start: date, end: date) -> bytes:
        """The JSON array for [start, end), with this profile's dropped and malformed items."""
        hour = datetime(start.year, start.month, start.day)
        stop = datetime(end.year, end.month, end.day)
        p = self.profile
        factor = self.factors.get(plant_id, 1.0)
        if p.drop_rate == 0 and p.malformed_rate == 0:
            items = []
            while hour < stop:
                items.append(item(plant_id, hour, factor))
                hour += timedelta(hours=1)
            return json.dumps(items).encode()
        with self._lock:
            decisions = []
            while hour < stop:
                dropped = self._chance(p.drop_rate)
                kind = self._rng.choice(_MALFORMATIONS) if self._chance(p.malformed_rate) else None
                decisions.append((hour, dropped, kind))
                hour += timedelta(hours=1)
        items = []
        for hour, dropped, kind in decisions:
            if dropped:
                continue
            items.extend(_malform(item(plant_id, hour, factor), kind))
        return json.dumps(items).encode()  # NaN and Infinity come out as bare NaN/Infinity


def _malform(good: dict[str, Any], kind: str | None) -> list[dict[str, Any]]:
    if kind is None:
        return [good]
    if kind == "duplicate":
        return [good, json.loads(json.dumps(good))]
    bad = json.loads(json.dumps(good))
    reading = bad["observed"]
    if kind == "missing_field":
        del reading["energy"]
    elif kind == "null":
        reading["energy"] = None
    elif kind == "string":
        reading["energy"] = str(reading["energy"])
    elif kind == "negative":
        reading["energy"] = -reading["energy"] - 1
    elif kind == "nan":
        reading["energy"] = math.nan
    elif kind == "infinity":
        reading["energy"] = math.inf
    elif kind == "bad_datetime":
        bad["datetime"] = bad["datetime"].replace("T", " ")
    return [bad]


class _Server(ThreadingHTTPServer):
    """The simulator's HTTP server; its handlers find the simulator on it."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: MonitoringSimulator) -> None:
        super().__init__(address, _Handler)
        self.simulator = simulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    @property
    def simulator(self) -> MonitoringSimulator:
        return self.server.simulator

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timed out): as a real server sees it

    def _error(self, message: str, status: int = 200) -> None:
        self._send(status, json.dumps({"error": message}).encode())

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/":
            self._error(f"no such path {url.path}", 404)
            return
        try:
            plant_id, start, end = parse_query(url.query)
        except BadRequest as error:
            self._error(str(error))
            return
        outcome = self.simulator.decide()
        if outcome == "down":
            self.close_connection = True
            self.simulator.down(self.simulator.profile.down_seconds)
            return
        if outcome in ("500", "503"):
            self._send(int(outcome), b"<html>Service Unavailable</html>")
            return
        if outcome == "error":
            self._error("monitoring service temporarily unavailable, try again")
            return
        if outcome == "garbage":
            self._send(200, b"<html>Bad Gateway</html>")
            return
        if outcome == "object":
            self._send(200, b'{"status": "maintenance"}')
            return
        if outcome == "slow":
            time.sleep(self.simulator.profile.slow_seconds)
        self._send(200, self.simulator.body(plant_id, start, end))

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        sim = self.simulator
        if url.path == "/__control/down":
            self._send(200, b'{"down": true}')
            sim.down(float(params.get("seconds", "1")))
        elif url.path == "/__control/factor" and "plant-id" in params:
            sim.set_factor(params["plant-id"], float(params.get("factor", "1")))
            self._send(200, json.dumps(sim.factors).encode())
        elif url.path == "/__control/profile" and params.get("name") in PROFILES:
            sim.profile = PROFILES[params["name"]]
            self._send(200, json.dumps(asdict(sim.profile)).encode())
        else:
            self._error("unknown control", 404)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.monitoring",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quiet")
    parser.add_argument("--seed", type=int, default=0)
    for name in Profile.__dataclass_fields__:
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=float, default=None, help="override the profile's value"
        )
    args = parser.parse_args(argv)
    overrides = {
        name: getattr(args, name) for name in Profile.__dataclass_fields__ if getattr(args, name) is not None
    }
    profile = replace(PROFILES[args.profile], **overrides)
    simulator = MonitoringSimulator(args.host, args.port, profile, args.seed)
    simulator.start()
    print(f"monitoring simulator on {simulator.url} (profile {args.profile}: {asdict(profile)})", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
