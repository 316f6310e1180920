"""botocore's and pynamodb's private parts (powerfactor/aws/internals.py): each still does what
the layer relies on, with the versions the tests run against, and botocore's has its fallback."""

from __future__ import annotations

import re
from pathlib import Path

import botocore.loaders
import pytest
from pynamodb.connection import TableConnection

from powerfactor.aws import internals, tables
from powerfactor.datapoints.store import _DayItem
from powerfactor.plants.store import _PlantItem

LAYER = Path(__file__).resolve().parents[3] / "layers" / "powerfactor" / "powerfactor"
PRIVATE = re.compile(r"\._(get_connection|connection|serialize_keys|local|retry_configuration|client)\b")


def test_a_session_lists_only_dynamodb_and_still_makes_its_client() -> None:
    assert internals.DynamoDbOnlyLoader is not None, "botocore's Loader changed: the fallback is in use"
    session = internals.new_session()
    assert session.get_available_services() == ["dynamodb"]
    client = session.create_client(
        "dynamodb", region_name="eu-central-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    assert client.meta.service_model.service_name == "dynamodb"


def test_without_what_the_loader_overrides_a_session_is_botocores(monkeypatch: pytest.MonkeyPatch) -> None:
    """A runtime whose botocore lacks `instance_cache` gets a slower session, not a failure."""
    monkeypatch.delattr(botocore.loaders, "instance_cache")
    assert internals._dynamodb_only_loader() is None
    monkeypatch.setattr(internals, "DynamoDbOnlyLoader", None)
    services = internals.new_session().get_available_services()
    assert "dynamodb" in services and len(services) > 100


def test_models_bound_with_the_same_settings_share_one_session_and_one_client(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from powerfactor.datapoints import store as datapoints
    from powerfactor.plants import store as plants

    # bound here, in this thread: a model an earlier test bound (maybe in another thread, where
    # the connection's thread-local session was set) would not be bound again
    monkeypatch.setattr(tables, "_bound", {})
    plants._bind()
    datapoints._bind()
    first, second = internals.low_level_connection(_PlantItem), internals.low_level_connection(_DayItem)
    assert first.session is second.session is tables._session
    assert first.client is second.client
    config = first.client.meta.config
    assert config.retries == {"total_max_attempts": tables.ATTEMPTS, "mode": "standard"}
    assert (config.connect_timeout, config.read_timeout) == (tables.CONNECT_TIMEOUT, tables.READ_TIMEOUT)


def test_the_raw_item_calls_get_what_they_expect(aws: dict[str, str]) -> None:
    from powerfactor.datapoints import store as datapoints

    datapoints._bind()
    connection = internals.table_connection(_DayItem)
    assert isinstance(connection, TableConnection)
    assert callable(connection.batch_write_item) and callable(connection.query)
    assert internals.batch_attempts(_DayItem) == 3  # pynamodb's default max_retry_attempts
    assert internals.hash_key(_DayItem, 7) == "7"  # a number as DynamoDB writes it


def test_no_other_module_of_the_layer_touches_those_private_parts() -> None:
    found = [
        f"{path.relative_to(LAYER)}:{n}"
        for path in LAYER.rglob("*.py")
        if path.name != "internals.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if PRIVATE.search(line)
    ]
    assert found == []
