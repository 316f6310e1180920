"""Integration tests: the handlers, invoked with events, against DynamoDB Local.

DynamoDB Local starts once per session (in memory, on a free port); the tables are created once
from template.yaml and emptied between tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from devstack.dynamodb import DynamoDB, free_port, start_dynamodb
from devstack.monitoring import MonitoringSimulator
from devstack.stack import dynamodb_client, table_names
from devstack.tables import empty_table, ensure_tables
from devstack.template import Template


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def dynamodb(template: Template) -> Iterator[DynamoDB]:
    db = start_dynamodb(free_port(), data_dir=None, allow_moto=False)
    try:
        ensure_tables(dynamodb_client(db.endpoint), template, table_names(template))
        yield db
    finally:
        db.stop()


@pytest.fixture
def local_aws(dynamodb: DynamoDB, template: Template, use_function_env: Callable[..., None]) -> Iterator[str]:
    """This process set up as the plants function against DynamoDB Local, with empty tables."""
    client = dynamodb_client(dynamodb.endpoint)
    for name in table_names(template).values():
        empty_table(client, name)
    use_function_env("PlantsApiFunction", DynamoDbEndpoint=dynamodb.endpoint)
    yield dynamodb.endpoint


@pytest.fixture
def patient_storage(local_aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Storage calls that wait as long as a busy machine needs. The race tests judge what
    concurrent transactions decide; twenty threads against one JVM on a loaded CI machine can
    outlast the 2 s read timeout made for Lambda (a timeout's own handling is tested in tests/unit)."""
    from powerfactor.aws import tables as _tables

    monkeypatch.setattr(_tables, "READ_TIMEOUT", 30.0)
    _tables._bound.clear()
    _tables._clients.clear()
    yield
    _tables._bound.clear()
    _tables._clients.clear()


@pytest.fixture
def simulator() -> Iterator[MonitoringSimulator]:
    """The monitoring simulator, in this process on a free port, quiet unless a test says otherwise."""
    sim = MonitoringSimulator(port=0, profile="quiet")
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def sync_env(
    local_aws: str, simulator: MonitoringSimulator, use_function_env: Callable[..., None]
) -> Callable[..., None]:
    """Set this process up as the sync worker, with these SYNC_EVERY_RUN / SYNC_UNTIL_YEAR."""

    def apply(every_run: int = 1, until_years: int = 2) -> None:
        use_function_env(
            "SyncWorkerFunction",
            DynamoDbEndpoint=local_aws,
            MonitoringServiceUrl=simulator.url,
            SyncEveryRun=str(every_run),
            SyncUntilYear=str(until_years),
            EventsEndpoint="http://127.0.0.1:9",  # alert events refused at once (test_alerts.py has a bus)
        )

    apply()
    return apply
