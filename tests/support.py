"""Helpers shared by test modules (fixtures live in the conftest files)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from devstack.monitoring import hour_values
from powerfactor import apikeys
from powerfactor.models import Datapoint


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


def caller(scopes: tuple[str, ...] = ("read", "write"), key_id: str = "testkey00000") -> dict[str, str]:
    """`requestContext.authorizer` of a request the authorizer passed with a key of these scopes."""
    key = apikeys.ApiKey(key_id, "tests", frozenset(scopes), "0" * 64, datetime.now(UTC))
    return {"principalId": key_id, **apikeys.authorizer_context(key)}
