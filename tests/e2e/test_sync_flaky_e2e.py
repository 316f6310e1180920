"""End to end with a flaky monitoring service: it fails (errors, 5xx, outages), answers slowly or
drops and garbles hours, and the daily runs still complete a new plant's history through the
local stack; its delete then leaves nothing. A module of its own (its own stack) so that it runs
beside test_sync_e2e.py.

The service's first requests fail once in each way (an outage, a 5xx, an error object, a slow
answer), the rest at the `flaky` profile's rates plus short outages; the test takes 20-40 s here. At
the `chaos` rates (40 % of requests fail) one run spends a minute in the client's backoff; the
sync's convergence under chaos is test_sync.py's (integration, with short backoff)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from devstack.monitoring import PROFILES
from devstack.stack import Stack
from powerfactor.datapoints import store as datapoints
from powerfactor.sync.run import horizon
from tests.support import fully_synced, http, simulated, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # the waits' caps decide, not pytest-timeout's 300 s


@pytest.fixture(scope="module")
def stack(sync_stack: Stack) -> Stack:
    return sync_stack


def test_with_a_flaky_service_daily_runs_complete_the_history_and_a_delete_leaves_nothing(
    stack, read_storage
) -> None:
    stack.monitoring.profile = replace(PROFILES["flaky"], slow_seconds=3, down_rate=0.02, down_seconds=0.5)
    stack.monitoring.force("down", "500", "error", "slow")
    try:
        status, plant = http(stack, "POST", "/api/solar-plant/", {"name": "Chaos E2E"})
        assert status == 201
        today = datetime.now(UTC).date()
        fired = [time.monotonic()]

        def converged() -> bool:  # the daily sync, fired every few seconds until it has converged
            if fully_synced(stack, plant["id"], today):
                return True
            if time.monotonic() - fired[0] > 5:
                http(stack, "POST", "/__devstack/schedules")
                fired[0] = time.monotonic()
            return False

        wait_for(converged, "convergence with a flaky service")
    finally:
        stack.monitoring.profile = PROFILES["quiet"]
    oldest = horizon(today, 1)
    stored = list(datapoints.read_hours(plant["id"], oldest - timedelta(days=30), today + timedelta(days=2)))
    assert len({p.hour for p in stored}) == len(stored)  # no duplicates
    assert stored == simulated(plant["id"], oldest, today)  # no gaps, nothing else
    assert http(stack, "DELETE", f"/api/solar-plant/plant/{plant['id']}")[0] == 204
    wait_for(
        lambda: (
            not list(datapoints.read_hours(plant["id"], date(2000, 1, 1), today))
            and not datapoints.read_day_sums(plant["id"], date(2000, 1, 1), today)
        ),
        "the deleted plant's data to go",
    )
