"""DynamoDB timing out, one call kind at a time: every storage function raises the storage error
(an outage, answered 503 or retried), never an error of its own error path.

A timeout has no response: pynamodb's `cause_response_code` raised AttributeError on it
(botocore's ReadTimeoutError has `response = None`), so a timed-out conditional write came out
of the code meant to tell a failed condition apart as an AttributeError (issue 23).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import botocore.client
import pytest
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError
from pynamodb.exceptions import PynamoDBException

from powerfactor.access import accounts
from powerfactor.access import keys as apikeys
from powerfactor.access.principal import DEFAULT_ACCOUNT
from powerfactor.alerts import store as alert_storage
from powerfactor.alerts.schemas import Alert
from powerfactor.aws.outage import is_outage, response_code
from powerfactor.datapoints import store as datapoints
from powerfactor.datapoints.schemas import Datapoint
from powerfactor.plants import logic as plants
from powerfactor.plants import store as plant_storage
from powerfactor.plants.schemas import SyncState
from tests.support import OWNER, principal

DAY = date(2024, 5, 1)
NOW = datetime(2024, 5, 2, tzinfo=UTC)


def _hours(count: int, day: date = DAY, value: float = 1.0) -> list[Datapoint]:
    first = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return [Datapoint(first + timedelta(hours=h), value, 2.0, 3.0, 4.0) for h in range(count)]


def _alert(plant_id: int) -> Alert:
    return Alert(
        id=f"{NOW.isoformat()}#data_gap", plant_id=plant_id, kind="data_gap", state="open", message="gap",
        figures={}, opened_at=NOW, updated_at=NOW,
    ).owned_by(DEFAULT_ACCOUNT)  # fmt: skip


# (DynamoDB operation, what calls it); each gets the plant's id, with its lease held by "owner"
CALLS: list[tuple[str, str, Callable[[int], Any]]] = [
    ("GetItem", "get_plant", lambda p: plants.get_plant(OWNER, p)),
    ("UpdateItem", "acquire_sync_lease", lambda p: plant_storage.acquire_sync_lease(p, "other", NOW, 60)),
    ("UpdateItem", "release_sync_lease", lambda p: plant_storage.release_sync_lease(p, "owner")),
    ("UpdateItem", "save_sync_state", lambda p: plant_storage.save_sync_state(p, "owner", SyncState())),
    (
        "UpdateItem",
        "request_resync",
        lambda p: plant_storage.request_resync(p, "2024-05-01", "2024-05-01", NOW, NOW),
    ),
    ("UpdateItem", "set_resync", lambda p: plant_storage.set_resync(p, "owner", "running")),
    ("UpdateItem", "clear_resync", lambda p: plant_storage.clear_resync(p, "owner")),
    (
        "UpdateItem",
        "resolve_alert",
        lambda p: alert_storage.resolve_alert(_alert(p).model_copy(update={"resolved_at": NOW})),
    ),
    ("UpdateItem", "record_run", lambda p: alert_storage.record_run(p, True, "down")),
    ("PutItem", "insert_alert", lambda p: alert_storage.insert_alert(_alert(p))),
    ("Query", "read_hours", lambda p: list(datapoints.read_hours(p, DAY, DAY + timedelta(days=1)))),
    ("Query", "open_alerts", alert_storage.open_alerts),
    ("Query", "write_days (the stored days, read first)", lambda p: datapoints.write_days(p, _hours(24))),
    (
        "BatchGetItem",
        "write_days (a new day of a partial month: its summary)",
        lambda p: datapoints.write_days(p, _hours(3, DAY + timedelta(days=1))),
    ),
    (
        "BatchWriteItem",
        "write_days (new days)",
        lambda p: datapoints.write_days(p, _hours(24, DAY + timedelta(days=1))),
    ),
    (
        "TransactWriteItems",
        "write_days (a changed hour: day, revision, month at once)",
        lambda p: datapoints.write_days(p, _hours(1, DAY, 9.0)),
    ),
    ("BatchWriteItem", "delete_plant_data", datapoints.delete_plant_data),
    ("TransactWriteItems", "create_plant", lambda p: plants.create_plant(OWNER, f"another than {p}")),
    ("TransactWriteItems", "delete_plant", lambda p: plants.delete_plant(OWNER, p)),
    ("TransactWriteItems", "adopt_plant", lambda p: plant_storage.adopt_plant(p, DEFAULT_ACCOUNT)),
    ("Query", "list_plants", lambda p: plants.list_plants(OWNER)),
    ("Query", "open alerts of an account", lambda p: alert_storage.list_open(DEFAULT_ACCOUNT, 5, None)),
]
KEY_CALLS: list[tuple[str, str, Callable[[], Any]]] = [
    (
        "TransactWriteItems",
        "create_key",
        lambda: apikeys.create_key("laptop", ["read"]),
    ),  # with its audit entry
    ("Scan", "list_keys", apikeys.list_keys),
    ("GetItem", "revoke_key", lambda: apikeys.revoke_key("abcdefghijkl")),  # read, then a transaction
    ("Query", "account_keys", lambda: apikeys.account_keys(principal(scopes=("read", "admin")))),
    ("PutItem", "create_account", lambda: accounts.create_account("Owner")),
    ("GetItem", "plant_limit", lambda: accounts.plant_limit("owner", 10)),
    ("Scan", "list_accounts", accounts.list_accounts),
]


@pytest.fixture
def timing_out(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, type[Exception]], list[str]]:
    """From now on every DynamoDB call of this kind times out (the others go to moto); the
    operations called since."""

    def arm(operation: str, timeout: type[Exception] = ReadTimeoutError) -> list[str]:
        called: list[str] = []
        original = botocore.client.BaseClient._make_api_call

        def call(self: Any, name: str, params: dict) -> Any:
            if self.meta.service_model.service_name == "dynamodb":
                called.append(name)
                if name == operation:
                    raise timeout(endpoint_url="http://dynamodb.local")
            return original(self, name, params)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)
        return called

    return arm


def _raises_the_outage(call: Callable[[], Any], operation: str, called: list[str]) -> None:
    with pytest.raises(PynamoDBException) as raised:
        call()
    assert operation in called  # the call kind under test was made (and timed out)
    assert is_outage(raised.value) and response_code(raised.value) is None, repr(raised.value)


@pytest.mark.parametrize("timeout", [ReadTimeoutError, ConnectTimeoutError])
@pytest.mark.parametrize(("operation", "name", "call"), CALLS, ids=[f"{o}-{n}" for o, n, _ in CALLS])
def test_a_timeout_of_each_call_kind_raises_the_storage_error_not_one_of_its_error_path(
    aws, use_function_env, timing_out, operation: str, name: str, call: Callable[[int], Any], timeout
) -> None:
    use_function_env("SyncWorkerFunction", queue_urls=aws)
    plant = plants.create_plant(OWNER, "Timing out")
    assert plant_storage.acquire_sync_lease(plant.id, "owner", NOW, 600) is not None
    datapoints.write_days(plant.id, _hours(24))
    called = timing_out(operation, timeout)
    _raises_the_outage(lambda: call(plant.id), operation, called)


@pytest.mark.parametrize(("operation", "name", "call"), KEY_CALLS, ids=[f"{o}-{n}" for o, n, _ in KEY_CALLS])
def test_a_timeout_of_each_key_call_raises_the_storage_error(
    aws, use_function_env, timing_out, operation: str, name: str, call: Callable[[], Any]
) -> None:
    use_function_env("AuthorizerFunction", queue_urls=aws)
    called = timing_out(operation)
    _raises_the_outage(call, operation, called)


def test_a_failed_condition_is_still_told_apart(aws, use_function_env) -> None:
    """The same code path with an answer: DynamoDB's code is read, and the condition decides."""
    use_function_env("SyncWorkerFunction", queue_urls=aws)
    plant = plants.create_plant(OWNER, "Held")
    assert plant_storage.acquire_sync_lease(plant.id, "owner", NOW, 600) is not None
    assert plant_storage.acquire_sync_lease(plant.id, "other", NOW, 600) is None
    assert plant_storage.save_sync_state(plant.id, "other", SyncState()) is False
