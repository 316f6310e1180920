"""Client of the monitoring service: fetches hourly datapoints and survives the service's failures.

- One `requests` session, connect and read timeouts.
- tenacity retries, exponential backoff with jitter, on `{"error": ...}` bodies, 5xx/429, a body
  that is neither a JSON array nor an error object, timeouts and connection errors. The retry
  budget respects the Lambda's remaining time: the client gives up before the function would be
  killed and raises TimeBudgetExhausted, which says how far it got.
- Every item is validated (`_Item`): exact datetime format, on the hour, inside the requested
  range, four finite numbers, each 0 or in [1e-9, 1e9]. Invalid items are dropped, counted by
  reason and logged; identical duplicates collapse, conflicting ones drop the hour. Hours missing from an
  answer (dropped by the service or invalid) are asked for again, a few rounds, day by day.
- It accepts only what it asked for: redirects are not followed (a 3xx fails the request), the
  body is read as a stream and refused past `max_response_bytes` (MonitoringMaxResponseBytes),
  and no error text carries the URL's query string or credentials (`describe`): they reach
  `last_error`, alerts, webhooks and e-mails.
- Ranges are fetched in chunks of one calendar month (`fetch_ranges` yields each as it is
  complete), so a failure never forces earlier chunks to be fetched again; the next chunk is
  fetched while the caller stores the last one.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, TypedDict, cast

import requests
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import AfterValidator, Field, Strict, TypeAdapter, ValidationError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from powerfactor.datapoints.points import Datapoint
from powerfactor.runtime.clock import HOUR, utc_today

logger = Logger(child=True)
metrics = Metrics(namespace="PowerFactor")
_METRIC_NAMES = {
    "requests": "MonitoringRequests",
    "retries": "MonitoringRetries",
    "failures": "MonitoringFailures",
    "dropped_items": "MonitoringItemsDropped",
    "missing_hours": "MonitoringHoursMissing",
}


class MonitoringError(Exception):
    """The monitoring service could not give us the data."""


class MonitoringUnavailable(MonitoringError):
    """Every retry failed."""


class ResponseTooLarge(MonitoringError):
    """The answer was larger than the client reads."""


_URL_SECRETS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"]*@|\?[^\s'\"()]*")


def scrub(text: str) -> str:
    """`text` without URL credentials (`user:password@`) or query strings (`?plant-id=...&key=...`)."""
    return _URL_SECRETS.sub(lambda m: m["scheme"] if m["scheme"] else "?...", text)


def describe(error: BaseException) -> str:
    """An error of a request in words fit for `last_error` and alerts: what happened, never the
    URL (requests' texts quote it, query string and all)."""
    if isinstance(error, requests.ConnectTimeout):
        return "connect timeout"
    if isinstance(error, requests.Timeout):
        return "read timeout"
    if isinstance(error, requests.TooManyRedirects):
        return "too many redirects"
    if isinstance(error, requests.ConnectionError):
        return "connection failed"
    if isinstance(error, requests.RequestException):
        return f"request failed ({type(error).__name__})"
    return scrub(str(error))


class TimeBudgetExhausted(MonitoringError):
    """Stopped before the Lambda's time ran out; what was yielded so far is complete."""


class _Retryable(Exception):
    """A failed answer worth asking again."""


class _Cancelled(Exception):
    """The caller stopped reading chunks: a prefetch still under way gives up."""


# What one hour can measure, and what DynamoDB can store as a sum of a month of them (its numbers
# run from 1e-130 to 1e126): zero, or between a billionth and a billion kWh (or Wh/m²). Anything
# else is a broken reading, dropped and asked for again like any invalid item.
VALUE_MIN, VALUE_MAX = 1e-9, 1e9


def _plausible(value: float) -> float:
    if value != 0 and not VALUE_MIN <= value <= VALUE_MAX:
        raise ValueError(f"a reading is 0 or between {VALUE_MIN:g} and {VALUE_MAX:g}")
    return value


Value = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False), AfterValidator(_plausible)]
# What pydantic-core checks of a reading without calling back into Python (a callback per value
# was a third of the validation's time): the rest of `Value`, the gap between 0 and VALUE_MIN, is
# checked in `validate_items`, with the same reason (`value_error`).
_Bounded = Annotated[float, Strict(), Field(ge=0, le=VALUE_MAX, allow_inf_nan=False)]
_READINGS: tuple[tuple[Literal["expected", "observed"], Literal["energy", "irradiation"]], ...] = (
    ("expected", "energy"), ("expected", "irradiation"), ("observed", "energy"), ("observed", "irradiation"),
)  # fmt: skip


class _Reading(TypedDict):
    energy: _Bounded
    irradiation: _Bounded


class _Item(TypedDict):
    datetime: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:00:00$")]
    expected: _Reading
    observed: _Reading


# One validator for a whole answer: pydantic-core checks every item in one call (TypedDicts,
# not models, so no object is built per item); about 6 x faster than a model per item.
_ITEMS = TypeAdapter(list[_Item])


@dataclass
class Chunk:
    """What the service gave for [start, end): valid datapoints in hour order, and the items it
    dropped by reason. Hours it never gave are counted (`stats["missing_hours"]`), not listed:
    the sync judges a day by what is stored, which may hold hours this answer lacked."""

    start: date
    end: date
    datapoints: list[Datapoint]
    dropped: Counter[str] = field(default_factory=Counter)


def month_chunks(start: date, end: date) -> Iterator[tuple[date, date]]:
    """[start, end) cut at month boundaries."""
    while start < end:
        next_month = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        stop = min(next_month, end)
        yield start, stop
        start = stop


def _hours(start: date, end: date) -> Iterator[datetime]:
    hour = datetime(start.year, start.month, start.day, tzinfo=UTC)
    stop = datetime(end.year, end.month, end.day, tzinfo=UTC)
    while hour < stop:
        yield hour
        hour += HOUR


def day_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """The fewest [from, to) ranges that cover these days (consecutive days merged)."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and ranges[-1][1] == day:
            ranges[-1] = (ranges[-1][0], day + timedelta(days=1))
        else:
            ranges.append((day, day + timedelta(days=1)))
    return ranges


class _Valid(list):
    """An answer every item of which passed `_Item`, validated straight from the JSON text."""


def _checked(raw: list[Any]) -> tuple[list[_Item], Counter[str]]:
    """The items that pass `_Item`, and the reasons (first error of each) for those that do not."""
    if isinstance(raw, _Valid):
        return raw, Counter()
    try:
        return _ITEMS.validate_python(raw), Counter()
    except ValidationError as error:
        reasons: dict[int, str] = {}
        for e in error.errors():
            index, *loc = e["loc"]
            reasons.setdefault(int(index), ".".join(str(p) for p in loc) + ":" + e["type"])
    rest = [obj for index, obj in enumerate(raw) if index not in reasons]
    return _ITEMS.validate_python(rest), Counter(reasons.values())


def validate_items(raw: list[Any], start: date, end: date) -> tuple[dict[datetime, Datapoint], Counter[str]]:
    """Valid datapoints by hour, and the count of dropped items by reason."""
    low = datetime(start.year, start.month, start.day, tzinfo=UTC)
    high = datetime(end.year, end.month, end.day, tzinfo=UTC)
    good: dict[datetime, Datapoint] = {}
    conflicted: set[datetime] = set()
    items, dropped = _checked(raw)
    for item in items:
        expected, observed = item["expected"], item["observed"]
        ee, ei = expected["energy"], expected["irradiation"]
        oe, oi = observed["energy"], observed["irradiation"]
        if 0 < ee < VALUE_MIN or 0 < ei < VALUE_MIN or 0 < oe < VALUE_MIN or 0 < oi < VALUE_MIN:
            group, name = next((g, n) for g, n in _READINGS if 0 < item[g][n] < VALUE_MIN)
            dropped[f"{group}.{name}:value_error"] += 1
            continue
        try:  # the pattern fixed the format; this catches days that do not exist (2023-02-30)
            hour = datetime.fromisoformat(item["datetime"] + "+00:00")
        except ValueError:
            dropped["datetime:impossible_date"] += 1
            continue
        if not low <= hour < high:
            dropped["datetime:outside_range"] += 1
            continue
        point = Datapoint(hour, ee, ei, oe, oi)
        if hour in conflicted:
            dropped["datetime:conflicting_duplicate"] += 1
        elif hour in good:
            if good[hour] == point:
                dropped["datetime:duplicate"] += 1
            else:
                del good[hour]
                conflicted.add(hour)
                dropped["datetime:conflicting_duplicate"] += 2
        else:
            good[hour] = point
    return good, dropped


class MonitoringClient:
    """Fetches a plant's hourly datapoints. One client per invocation (it holds the time budget)."""

    def __init__(
        self,
        base_url: str,
        *,
        remaining_ms: Callable[[], int] | None = None,
        connect_timeout: float = 3.05,
        read_timeout: float = 20.0,
        max_attempts: int = 6,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        refetch_rounds: int = 3,
        safety_ms: int = 1500,
        today: Callable[[], date] = utc_today,
        session: requests.Session | None = None,
        max_response_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.base_url = base_url
        self.max_response_bytes = max_response_bytes
        self.remaining_ms = remaining_ms
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.refetch_rounds = refetch_rounds
        self.safety_ms = safety_ms
        self.today = today
        self.session = session or requests.Session()
        self.stats: Counter[str] = Counter()

    # -- time budget -----------------------------------------------------------------------
    def seconds_left(self) -> float:
        """Seconds the caller may still spend (inf without a budget)."""
        return self._seconds_left()

    def _seconds_left(self) -> float:
        """Seconds this client may still spend before it must give up (inf without a budget)."""
        if self.remaining_ms is None:
            return float("inf")
        return (self.remaining_ms() - self.safety_ms) / 1000

    def _out_of_time(self, state: RetryCallState) -> bool:
        """tenacity stop: no time left for the backoff plus a useful attempt."""
        return self._seconds_left() < state.upcoming_sleep + self.connect_timeout + 1

    # -- one request -----------------------------------------------------------------------
    def _get(self, plant_id: int, start: date, end: date, cancelled: threading.Event) -> list[Any]:
        """One request: the raw JSON array, or _Retryable / a requests error."""
        if cancelled.is_set():
            raise _Cancelled()
        left = self._seconds_left()
        if left < self.connect_timeout + 1:
            raise TimeBudgetExhausted(f"{left:.1f}s left, not enough for a request")
        self.stats["requests"] += 1
        with self.session.get(
            self.base_url,
            params={"plant-id": str(plant_id), "from": start.isoformat(), "to": end.isoformat()},
            timeout=(self.connect_timeout, max(1.0, min(self.read_timeout, left - self.connect_timeout))),
            allow_redirects=False,
            stream=True,
        ) as response:
            if response.status_code >= 500 or response.status_code == 429:
                raise _Retryable(f"HTTP {response.status_code}")
            if 300 <= response.status_code < 400:
                raise MonitoringError(f"HTTP {response.status_code}: a redirect, not followed")
            content = self._read(response)
        if response.status_code != 200:
            text = content[:200].decode("utf-8", "replace")
            raise MonitoringError(scrub(f"HTTP {response.status_code}: {text}"))
        try:  # the usual answer: parsed and checked in one pass of pydantic-core, ~3x faster
            return _Valid(_ITEMS.validate_json(content))
        except ValidationError:
            pass  # an error, or some bad items: read it as before, to tell which and drop them
        try:
            body = json.loads(content)
        except ValueError:
            raise _Retryable("the body is not JSON") from None
        if isinstance(body, list):
            return body
        if isinstance(body, dict) and "error" in body:
            raise _Retryable(scrub(f"service error: {str(body['error'])[:200]}"))
        raise _Retryable(f"unexpected body: a JSON {type(body).__name__}")

    def _read(self, response: requests.Response) -> bytes:
        """The body, read as a stream; ResponseTooLarge past `max_response_bytes` (announced or
        read), so a huge or endless answer never fills the Lambda's memory."""
        limit = self.max_response_bytes
        announced = response.headers.get("Content-Length", "")
        if announced.isdigit() and int(announced) > limit:
            raise ResponseTooLarge(f"the answer is {int(announced)} bytes, more than the {limit} read")
        parts, size = [], 0
        for part in response.iter_content(chunk_size=64 * 1024):
            size += len(part)
            if size > limit:
                raise ResponseTooLarge(f"the answer is more than the {limit} bytes read")
            parts.append(part)
        return b"".join(parts)

    def _on_retry(self, state: RetryCallState) -> None:
        self.stats["retries"] += 1
        error = state.outcome.exception() if state.outcome else None
        logger.warning(
            "monitoring request failed, retrying",
            extra={
                "attempt": state.attempt_number,
                "error": describe(error) if error else None,
                "sleep_s": round(state.upcoming_sleep, 2),
            },
        )

    def request(
        self, plant_id: int, start: date, end: date, *, cancelled: threading.Event | None = None
    ) -> list[Any]:
        """The raw items for [start, end), retried; MonitoringUnavailable or TimeBudgetExhausted.

        Setting `cancelled` ends the backoff sleep at once and stops before the next attempt.
        """
        cancelled = cancelled or threading.Event()
        retrying = Retrying(
            retry=retry_if_exception_type((_Retryable, requests.Timeout, requests.ConnectionError)),
            wait=wait_exponential_jitter(
                multiplier=self.backoff_initial, jitter=self.backoff_initial, max=self.backoff_max
            ),
            stop=stop_after_attempt(self.max_attempts) | cast(stop_base, self._out_of_time),  # callable
            before_sleep=self._on_retry,
            sleep=cast(Callable[[float], None], cancelled.wait),  # its bool is not used
            reraise=True,
        )
        try:
            return retrying(self._get, plant_id, start, end, cancelled)
        except (_Retryable, requests.RequestException) as error:
            self.stats["failures"] += 1
            attempts = retrying.statistics.get("attempt_number", 1)
            if attempts < self.max_attempts:
                raise TimeBudgetExhausted(
                    f"gave up on {start}..{end} after {attempts} attempts to stay within the "
                    f"Lambda's time ({self._seconds_left():.1f}s left): {describe(error)}"
                ) from error
            raise MonitoringUnavailable(
                f"{start}..{end}: all {attempts} attempts failed, last: {describe(error)}"
            ) from error

    # -- ranges ----------------------------------------------------------------------------
    def fetch_chunks(self, plant_id: int, start: date, end: date) -> Generator[Chunk]:
        """Valid datapoints of [start, end), a month per chunk, each yielded once complete."""
        return self.fetch_ranges(plant_id, [(start, end)])

    def fetch_ranges(self, plant_id: int, ranges: Iterable[tuple[date, date]]) -> Generator[Chunk]:
        """Valid datapoints of each [start, end) in `ranges`, in that order, cut at month ends.

        Hours the service still lacked after the re-fetch rounds are left out of a chunk.
        While the caller stores one chunk, the next is fetched in a background thread, so the
        service's latency and our writes overlap instead of adding up. If the caller stops
        early, that prefetch is cancelled and waited for: no thread outlives the call.
        Raises MonitoringUnavailable or TimeBudgetExhausted; chunks yielded before stay valid.
        """
        pieces = [piece for start, end in ranges for piece in month_chunks(start, end)]
        last = max((end for _, end in pieces), default=None)
        if last is not None and last > self.today():
            raise ValueError(f"refusing to ask for days after today: to={last} > {self.today()}")
        if not pieces:
            return
        cancelled = threading.Event()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitoring-prefetch") as prefetch:
            try:
                pending = prefetch.submit(self._fetch_metered, plant_id, *pieces[0], cancelled)
                for piece in pieces[1:]:
                    chunk = pending.result()
                    pending = prefetch.submit(self._fetch_metered, plant_id, *piece, cancelled)
                    yield chunk
                yield pending.result()
            finally:
                cancelled.set()

    def _fetch_metered(self, plant_id: int, start: date, end: date, cancelled: threading.Event) -> Chunk:
        before = self.stats.copy()
        try:
            return self._fetch_chunk(plant_id, start, end, cancelled)
        finally:
            self._emit_metrics(self.stats - before)

    def _emit_metrics(self, delta: Counter[str]) -> None:
        """One metric per counter per chunk (not one per request: EMF caps values per metric)."""
        for key, name in _METRIC_NAMES.items():
            if delta[key]:
                metrics.add_metric(name=name, unit=MetricUnit.Count, value=delta[key])

    def _fetch_chunk(self, plant_id: int, start: date, end: date, cancelled: threading.Event) -> Chunk:
        started = time.monotonic()
        good, dropped = validate_items(self.request(plant_id, start, end, cancelled=cancelled), start, end)
        # every key is a distinct whole hour inside [start, end): as many as the range has hours
        # means none is missing (most answers), without making and looking up each hour
        complete = len(good) == (end - start).days * 24
        missing = [] if complete else [h for h in _hours(start, end) if h not in good]
        for _ in range(self.refetch_rounds):
            if not missing:
                break
            for day_start, day_end in day_ranges(h.date() for h in missing):
                try:
                    raw = self.request(plant_id, day_start, day_end, cancelled=cancelled)
                except MonitoringError as error:
                    logger.warning("re-fetch of missing hours failed", extra={"error": describe(error)})
                    break
                more, more_dropped = validate_items(raw, day_start, day_end)
                dropped += more_dropped
                for hour, point in more.items():
                    good.setdefault(hour, point)
            missing = [h for h in missing if h not in good]
        chunk = Chunk(start, end, [good[h] for h in sorted(good)], dropped)
        self.stats["dropped_items"] += sum(dropped.values())
        self.stats["missing_hours"] += len(missing)
        logger.info(
            "fetched chunk",
            extra={
                "plant_id": plant_id,
                "from": start.isoformat(),
                "to": end.isoformat(),
                "datapoints": len(chunk.datapoints),
                "missing_hours": len(missing),
                "dropped": dict(dropped),
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return chunk
