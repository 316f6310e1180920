"""Fixtures of the e2e modules that drive the sync through a started local stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.stack import Stack, function_environment
from powerfactor.runtime.settings import reset_settings
from tests.support import in_process_stack


@pytest.fixture(scope="module")
def sync_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The local stack in this process, syncing one year back, one year per run, with a 2 s read
    timeout on the monitoring service (its slow answers fail fast)."""
    with in_process_stack(
        tmp_path_factory.mktemp("sync"), SyncUntilYear="1", SyncEveryRun="1", MonitoringReadTimeout="2"
    ) as running:
        yield running


@pytest.fixture
def read_storage(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point this process's storage code at the DynamoDB of the module's `stack`, to check what
    it holds."""
    env = function_environment(stack.template, {"DynamoDbEndpoint": stack.dynamodb.endpoint})
    for key, value in env["SyncWorkerFunction"].items():
        monkeypatch.setenv(key, value)
    reset_settings()
    yield
    reset_settings()
