"""The monitoring simulator and the client that survives it (simulator in-process, on a free port)."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from devstack.monitoring import PROFILES, MonitoringSimulator, Profile, _malform, hour_values, item
from powerfactor.datapoints.schemas import Datapoint
from powerfactor.sync.vendor import (
    MonitoringClient,
    MonitoringError,
    MonitoringUnavailable,
    ResponseTooLarge,
    TimeBudgetExhausted,
    month_chunks,
    validate_items,
)
from tests.support import base_url, serving, simulated

pytestmark = pytest.mark.loopback

TODAY = date(2026, 1, 1)
FAST = {
    "read_timeout": 0.5,
    "backoff_initial": 0.05,
    "backoff_max": 0.2,
    "max_attempts": 8,
    "today": lambda: TODAY,
}


@pytest.fixture
def simulator() -> Iterator[MonitoringSimulator]:
    sim = MonitoringSimulator(port=0, profile=replace(PROFILES["quiet"], slow_seconds=1.5, down_seconds=0.3))
    sim.start()
    yield sim
    sim.stop()


def get(sim: MonitoringSimulator, **params: str) -> object:
    return requests.get(sim.url, params=params, timeout=5).json()


def fetch(client: MonitoringClient, plant_id: int, start: date, end: date) -> tuple[list[Datapoint], Counter]:
    """Every chunk of [start, end) as the sync reads them: the datapoints, the drops by reason."""
    chunks = list(client.fetch_chunks(plant_id, start, end))
    return [p for c in chunks for p in c.datapoints], sum((c.dropped for c in chunks), Counter())


# -- the simulator -----------------------------------------------------------------------------


def test_simulator_answers_like_the_real_service(simulator) -> None:
    items = get(simulator, **{"plant-id": "7", "from": "2019-01-01", "to": "2019-02-01"})
    assert len(items) == 744  # `to` is exclusive
    assert items[0]["datetime"] == "2019-01-01T00:00:00"
    assert items[-1]["datetime"] == "2019-01-31T23:00:00"
    assert set(items[0]) == {"datetime", "expected", "observed"}
    assert set(items[0]["expected"]) == {"energy", "irradiation"}
    values = [v for it in items for part in ("expected", "observed") for v in it[part].values()]
    assert all(0 <= v < 101 for v in values)
    assert 45 < sum(values) / len(values) < 56  # spread evenly over [0, 101)
    assert get(simulator, **{"plant-id": "x", "from": "2019-01-01", "to": "2019-01-01"}) == []


def test_simulator_is_deterministic_per_plant_and_hour(simulator) -> None:
    a = get(simulator, **{"plant-id": "7", "from": "2020-02-28", "to": "2020-03-02"})
    b = get(simulator, **{"plant-id": "7", "from": "2020-02-29", "to": "2020-03-01"})
    assert len(a) == 72 and a[24:48] == b  # the leap day, the same either way
    assert a[0] == item("7", datetime(2020, 2, 28))
    assert get(simulator, **{"plant-id": "8", "from": "2020-02-29", "to": "2020-03-01"}) != b


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"from": "2020-01-01", "to": "2020-01-02"},
        {"plant-id": "1", "to": "2020-01-02"},
        {"plant-id": "1", "from": "2020-01-01"},
        {"plant-id": "1", "from": "2020-13-01", "to": "2021-01-01"},
        {"plant-id": "1", "from": "yesterday", "to": "2021-01-01"},
        {"plant-id": "1", "from": "2020-01-02", "to": "2020-01-01"},
    ],
)
def test_simulator_bad_requests_get_an_error_object(simulator, params) -> None:
    body = get(simulator, **params)
    assert isinstance(body, dict) and set(body) == {"error"}


def test_simulator_failure_outcomes(simulator) -> None:
    params = {"plant-id": "1", "from": "2020-01-01", "to": "2020-01-02"}
    simulator.force("error", "500", "503", "garbage", "object")
    assert "error" in requests.get(simulator.url, params=params, timeout=5).json()
    assert requests.get(simulator.url, params=params, timeout=5).status_code == 500
    assert requests.get(simulator.url, params=params, timeout=5).status_code == 503
    assert requests.get(simulator.url, params=params, timeout=5).text.startswith("<html>")
    assert requests.get(simulator.url, params=params, timeout=5).json() == {"status": "maintenance"}
    simulator.force("slow")
    with pytest.raises(requests.Timeout):
        requests.get(simulator.url, params=params, timeout=(1, 0.3))
    simulator.force("down")
    with pytest.raises(requests.ConnectionError):
        requests.get(simulator.url, params=params, timeout=5)
    with pytest.raises(requests.ConnectionError):  # refused while down
        requests.get(simulator.url, params=params, timeout=5)
    time.sleep(0.6)
    assert len(requests.get(simulator.url, params=params, timeout=5).json()) == 24


def test_simulator_emits_nan_and_infinity_as_bare_json_literals() -> None:
    good = item("1", datetime(2020, 1, 1))
    assert "NaN" in json.dumps(_malform(good, "nan"))
    assert "Infinity" in json.dumps(_malform(good, "infinity"))


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("missing_field", "observed.energy:missing"),
        ("null", "observed.energy:float_type"),
        ("string", "observed.energy:float_type"),
        ("negative", "observed.energy:greater_than_equal"),
        ("nan", "observed.energy:finite_number"),
        ("infinity", "observed.energy:finite_number"),
        ("bad_datetime", "datetime:string_pattern_mismatch"),
        ("duplicate", "datetime:duplicate"),
    ],
)
def test_each_malformed_item_is_dropped_with_its_reason(kind, reason) -> None:
    hour = datetime(2020, 1, 1, 5)
    raw = json.loads(json.dumps(_malform(item("1", hour), kind)))  # through JSON, as received
    good, dropped = validate_items(raw, date(2020, 1, 1), date(2020, 1, 2))
    assert dropped == {reason: 1}
    assert len(good) == (1 if kind == "duplicate" else 0)


def test_validation_keeps_good_items_beside_bad_ones() -> None:
    day = date(2020, 1, 1)
    raw = [item("1", datetime(2020, 1, 1, h)) for h in range(24)]
    raw[3]["observed"]["energy"] = "12"
    raw[4]["datetime"] = "2020-01-01T04:30:00"  # not on the hour
    raw[5]["datetime"] = "2020-01-02T00:00:00"  # outside the range
    raw[6]["datetime"] = "2020-02-30T06:00:00"  # no such day
    raw.append({**raw[7], "expected": {"energy": 1.0, "irradiation": 1.0}})  # conflicting duplicate
    raw += [None, 5, "x", {}]
    good, dropped = validate_items(raw, day, date(2020, 1, 2))
    assert sorted(h.hour for h in good) == [h for h in range(24) if h not in (3, 4, 5, 6, 7)]
    assert dropped["datetime:outside_range"] == 1
    assert dropped["datetime:impossible_date"] == 1
    assert dropped["datetime:conflicting_duplicate"] == 2
    assert sum(dropped.values()) == 10


def test_month_chunks() -> None:
    assert len(list(month_chunks(date(2023, 1, 1), date(2024, 1, 1)))) == 12
    assert list(month_chunks(date(2023, 12, 30), date(2024, 1, 2))) == [
        (date(2023, 12, 30), date(2024, 1, 1)),
        (date(2024, 1, 1), date(2024, 1, 2)),
    ]
    assert list(month_chunks(date(2023, 5, 5), date(2023, 5, 5))) == []


# -- the client ----------------------------------------------------------------------------------


def test_client_fetches_exactly_what_the_service_holds(simulator) -> None:
    client = MonitoringClient(simulator.url, **FAST)
    points, dropped = fetch(client, 3, date(2024, 2, 1), date(2024, 3, 1))
    assert points == simulated(3, date(2024, 2, 1), date(2024, 3, 1))  # 29 days: leap
    assert client.stats["missing_hours"] == 0 and not dropped
    assert client.stats["requests"] == 1


@pytest.mark.parametrize("failure", ["error", "500", "503", "slow", "down", "garbage", "object"])
def test_client_retries_each_failure(simulator, failure) -> None:
    simulator.force(failure, failure)
    client = MonitoringClient(simulator.url, **FAST)
    points, _ = fetch(client, 1, date(2021, 3, 1), date(2021, 3, 3))
    assert points == simulated(1, date(2021, 3, 1), date(2021, 3, 3))
    assert client.stats["retries"] >= 2


def test_all_retries_exhausted(simulator) -> None:
    simulator.force(*["error"] * 4)
    client = MonitoringClient(simulator.url, **{**FAST, "max_attempts": 4})
    with pytest.raises(MonitoringUnavailable, match="all 4 attempts failed"):
        fetch(client, 1, date(2021, 3, 1), date(2021, 3, 2))
    assert client.stats["requests"] == 4 and client.stats["failures"] == 1


def test_time_budget_exhausted_gives_up_before_the_deadline(simulator) -> None:
    simulator.force(*["503"] * 50)
    # the safety margin is Lambda's (1.5 s): it is what absorbs a busy machine's scheduling delays
    deadline = time.monotonic() + 4.5

    def remaining_ms() -> int:
        return int((deadline - time.monotonic()) * 1000)

    client = MonitoringClient(
        simulator.url,
        remaining_ms=remaining_ms,
        max_attempts=50,
        safety_ms=1500,
        connect_timeout=0.2,
        backoff_initial=0.2,
        backoff_max=0.4,
        today=lambda: TODAY,
    )
    with pytest.raises(TimeBudgetExhausted, match="stay within the Lambda's time"):
        fetch(client, 1, date(2021, 3, 1), date(2021, 3, 2))
    assert time.monotonic() < deadline
    assert 1 < client.stats["requests"] < 50


def test_no_request_when_no_time_is_left(simulator) -> None:
    client = MonitoringClient(simulator.url, remaining_ms=lambda: 1000, **FAST)
    with pytest.raises(TimeBudgetExhausted, match="not enough for a request"):
        fetch(client, 1, date(2021, 3, 1), date(2021, 3, 2))
    assert simulator.requests == 0


def test_missing_and_malformed_hours_are_fetched_again(simulator) -> None:
    simulator.profile = replace(simulator.profile, drop_rate=0.05, malformed_rate=0.05)
    client = MonitoringClient(simulator.url, **FAST)
    points, dropped = fetch(client, 2, date(2022, 6, 1), date(2022, 7, 1))
    assert points == simulated(2, date(2022, 6, 1), date(2022, 7, 1))
    assert sum(dropped.values()) > 0 and client.stats["requests"] > 1


def test_hours_the_service_never_gives_are_reported_missing(simulator) -> None:
    simulator.profile = replace(simulator.profile, drop_rate=1.0)
    client = MonitoringClient(simulator.url, refetch_rounds=2, **FAST)
    points, _ = fetch(client, 2, date(2022, 6, 1), date(2022, 6, 3))
    assert points == [] and client.stats["missing_hours"] == 48
    assert client.stats["requests"] == 3  # the range, then two rounds for the two missing days


def test_chunks_already_fetched_survive_a_later_failure(simulator) -> None:
    client = MonitoringClient(simulator.url, **{**FAST, "max_attempts": 2})
    simulator.force("ok", "ok", "ok", "error", "error")  # in request order: the 4th month fails
    chunks = client.fetch_chunks(4, date(2020, 1, 1), date(2021, 1, 1))
    first = [next(chunks), next(chunks), next(chunks)]
    with pytest.raises(MonitoringUnavailable):
        next(chunks)
    assert [len(c.datapoints) for c in first] == [744, 696, 744]
    assert client.stats["requests"] == 5  # nothing fetched twice


def test_the_next_month_is_fetched_while_the_caller_stores_this_one(simulator) -> None:
    client = MonitoringClient(simulator.url, **FAST)
    chunks = client.fetch_ranges(
        4, [(date(2020, 3, 1), date(2020, 5, 1)), (date(2020, 1, 1), date(2020, 2, 1))]
    )
    first = next(chunks)
    deadline = time.monotonic() + 5
    while simulator.requests < 2 and time.monotonic() < deadline:  # the caller has not asked yet
        time.sleep(0.01)
    assert simulator.requests == 2
    rest = list(chunks)
    assert [(c.start, c.end) for c in [first, *rest]] == [
        (date(2020, 3, 1), date(2020, 4, 1)),
        (date(2020, 4, 1), date(2020, 5, 1)),
        (date(2020, 1, 1), date(2020, 2, 1)),
    ]  # the order asked for, cut at month ends


def test_a_caller_that_stops_early_leaves_no_prefetch_behind(simulator) -> None:
    client = MonitoringClient(simulator.url, **FAST)
    simulator.force("ok", "slow", "slow", "slow")  # the 2nd month times out and would be retried
    chunks = client.fetch_ranges(4, [(date(2020, 1, 1), date(2020, 6, 1))])
    next(chunks)
    chunks.close()  # e.g. the caller's write failed
    assert not [t for t in threading.enumerate() if t.name.startswith("monitoring-prefetch")]
    assert client.stats["requests"] <= 2  # the prefetch gave up: no retry, no third month


def test_never_asks_for_days_after_today(simulator) -> None:
    client = MonitoringClient(simulator.url, **FAST)
    with pytest.raises(ValueError, match="after today"):
        fetch(client, 1, TODAY, TODAY + timedelta(days=1))
    assert simulator.requests == 0


def test_chaos_year_returns_every_valid_hour_and_nothing_else(simulator) -> None:
    simulator.profile = replace(PROFILES["chaos"], slow_seconds=0.6, down_seconds=0.2)
    client = MonitoringClient(simulator.url, **{**FAST, "max_attempts": 12, "read_timeout": 0.3})
    points, dropped = fetch(client, 5, date(2023, 1, 1), date(2024, 1, 1))
    assert client.stats["missing_hours"] == 0
    assert points == simulated(5, date(2023, 1, 1), date(2024, 1, 1))
    assert client.stats["retries"] > 0 and sum(dropped.values()) > 0


def test_profiles_are_named_and_quiet_is_quiet() -> None:
    assert set(PROFILES) >= {"quiet", "flaky", "chaos"}
    assert PROFILES["quiet"] == Profile()
    assert not math.isnan(hour_values("1", datetime(2020, 1, 1))[0])


# -- only what it asked for ----------------------------------------------------------------------


@contextmanager
def answering(respond: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 whose every GET `respond` answers: (its URL, the paths asked for)."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            asked.append(self.path)
            respond(self)

        def log_message(self, *args: object) -> None:
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as server:
        yield base_url(server), asked


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, **headers: str) -> None:
    handler.send_response(status)
    for name, value in {"Content-Length": str(len(body)), **headers}.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def test_a_redirect_is_not_followed(simulator) -> None:
    def redirect(handler: BaseHTTPRequestHandler) -> None:
        _send(handler, 302, b"", Location=simulator.url + "?plant-id=1&from=2025-12-01&to=2025-12-02")

    with answering(redirect) as (url, asked):
        client = MonitoringClient(url, **FAST)
        with pytest.raises(MonitoringError, match="HTTP 302: a redirect, not followed"):
            fetch(client, 1, date(2025, 12, 1), date(2025, 12, 2))
    assert len(asked) == 1 and simulator.requests == 0  # asked once, never where it pointed


def test_an_answer_larger_than_the_cap_is_refused_announced_or_streamed() -> None:
    body = json.dumps([item("1", datetime(2025, 12, 1) + timedelta(hours=h)) for h in range(24)]).encode()

    def announced(handler: BaseHTTPRequestHandler) -> None:
        _send(handler, 200, body)

    def streamed(handler: BaseHTTPRequestHandler) -> None:  # no length: chunks until the client stops
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            for _ in range(10_000):
                handler.wfile.write(b"10000\r\n" + b" " * 0x10000 + b"\r\n")
        except OSError:  # the client hung up once it had read its cap
            pass

    for respond in (announced, streamed):
        with answering(respond) as (url, asked):
            client = MonitoringClient(url, max_response_bytes=len(body) - 1, **FAST)
            with pytest.raises(ResponseTooLarge):
                fetch(client, 1, date(2025, 12, 1), date(2025, 12, 2))
            assert len(asked) == 1  # not asked again: a larger answer would be as large
    with answering(announced) as (url, _):
        points, _ = fetch(
            MonitoringClient(url, max_response_bytes=len(body), **FAST),
            1,
            date(2025, 12, 1),
            date(2025, 12, 2),
        )
    assert len(points) == 24  # exactly the cap is read


@pytest.mark.parametrize("answer", ["refused", "404", "error"])
def test_error_texts_carry_no_query_string_nor_credentials(answer: str) -> None:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        if answer == "404":
            _send(handler, 404, f"no such page: http://127.0.0.1{handler.path}".encode())
        else:
            _send(handler, 200, json.dumps({"error": f"bad request {handler.path}"}).encode())

    with answering(respond) as (url, _):
        if answer == "refused":
            with socket.socket() as taken:  # a port nothing listens on
                taken.bind(("127.0.0.1", 0))
                url = f"http://127.0.0.1:{taken.getsockname()[1]}/"
        secret_url = url.replace("http://", "http://operator:pa55word@") + "?token=s3cret"
        client = MonitoringClient(secret_url, **{**FAST, "max_attempts": 2})
        with pytest.raises(MonitoringError) as failed:
            fetch(client, 1, date(2025, 12, 1), date(2025, 12, 2))
    text = str(failed.value)
    assert text.startswith("2025-12-01..2025-12-02") or "HTTP 404" in text, text
    for secret in ("pa55word", "operator", "s3cret", "token", "plant-id", "from=", "2025-12-01&"):
        assert secret not in text, text
