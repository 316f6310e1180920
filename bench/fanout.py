"""6. Fan-out: 1,000 plants through the local stack, first as new plants (DynamoDB stream ->
PlantStreamFunction -> SyncQueue -> SyncWorkerFunction), then by the daily schedule
(DailySyncFunction -> SyncQueue -> SyncWorkerFunction)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bench.common import quiet_subprocesses, row, table

if TYPE_CHECKING:
    from devstack.stack import Stack

PLANTS = 1000
FIRST_ID = 500_001
CONCURRENCY = "5"  # the SyncConcurrency parameter: the worker's MaximumConcurrency
TIMEOUT_S = 300


def run() -> None:
    from devstack.dynamodb import free_port
    from devstack.stack import Stack, StackConfig

    parameters = {"SyncUntilYear": "1", "SyncEveryRun": "1", "SyncConcurrency": CONCURRENCY}
    parameters["LogLevel"] = "WARNING"
    ports = {f"{name}_port": free_port() for name in ("api", "dynamodb", "monitoring", "sqs")}
    stack = Stack(StackConfig(**ports, parameters=parameters, schedule_interval=86_400))
    with quiet_subprocesses():  # the workers' logs and metrics stay out of the table
        stack.start()
        try:
            _waves(stack)
        finally:
            stack.stop()


def _waves(stack: Stack) -> None:
    from devstack.fleet import seed_synced_plants, synced_since
    from devstack.stack import dynamodb_client

    assert stack.runtime is not None and stack.monitoring is not None and stack.dynamodb is not None
    client = dynamodb_client(stack.dynamodb.endpoint)
    ids = range(FIRST_ID, FIRST_ID + PLANTS)
    today = datetime.now(UTC).date()
    table(
        f"Fan-out: {PLANTS:,} plants through the local stack (SyncConcurrency {CONCURRENCY}; a run "
        "refreshes the last 7 days: one request, two across a month end)",
        "wave", "wall time", "plants/s", "invocations", "peak concurrency", "monitoring requests",
    )  # fmt: skip
    waves: list[tuple[str, Callable[[], object]]] = [
        ("new plants (stream INSERT -> backfill job)", lambda: seed_synced_plants(client, ids, today)),
        ("daily sync (schedule)", lambda: [s.fire() for s in stack.schedulers]),
    ]
    for name, trigger in waves:
        stack.runtime.invocations.clear()
        stack.runtime.peak_concurrency.clear()
        requests_before = stack.monitoring.requests
        started_at, started = datetime.now(UTC), time.monotonic()
        trigger()
        while synced_since(client, ids, started_at) < PLANTS:
            if time.monotonic() - started > TIMEOUT_S:
                raise TimeoutError(f"{name}: not done in {TIMEOUT_S}s")
            time.sleep(0.5)
        seconds = time.monotonic() - started
        invocations = ", ".join(f"{f} {n:,}" for f, n in sorted(stack.runtime.invocations.items()))
        peaks = ", ".join(f"{f} {n}" for f, n in sorted(stack.runtime.peak_concurrency.items()))
        row(
            name, f"{seconds:.1f} s", f"{PLANTS / seconds:.1f}", invocations, peaks,
            f"{stack.monitoring.requests - requests_before:,}",
        )  # fmt: skip
