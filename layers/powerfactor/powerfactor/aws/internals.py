"""Every use of botocore's and pynamodb's private parts, in one module.

Each buys speed, or an option their public API lacks; tests/unit/aws/test_internals.py fails when
an upgrade of either changes what one of them relies on.

- `DynamoDbOnlyLoader` (botocore, the runtime's): `Loader` subclassed with `instance_cache`, so a
  session lists one service instead of ~450 (cold start).
- `share_session` (pynamodb): `Model._connection`, `_get_connection()`, `Connection._local`: one
  botocore session for every model (cold start).
- `share_client` (pynamodb): `Connection._client`, `_retry_configuration`: one client per
  settings, and botocore's attempts per call (pynamodb 6.1 has no Meta option for it).
- `table_connection`, `batch_attempts`, `hash_key` (pynamodb): batch writes and queries of raw
  items, without a model object per item (reads, ingest CPU).
- `low_level_connection` (pynamodb): a `TransactWrite` on the model's own connection.

pynamodb is pinned by the layer (requirements.lock), so a change reaches production only through
an upgrade these tests run against. botocore is not: the python3.13 runtime provides it and AWS
updates it under a deployed function. It stays unpinned (shipping our own would add tens of MB
to the layer, a second copy to every cold start's path, and drop the runtime's updates); instead
its one reach-in here falls back: if botocore's loader no longer has what `DynamoDbOnlyLoader`
overrides, the session keeps botocore's own loader, which lists every service (slower cold
starts, same answers). The session and client sharing use botocore's public session and event
APIs only.
"""

from __future__ import annotations

import os
from typing import Any

import botocore.loaders
import botocore.session
from pynamodb.connection import Connection, TableConnection
from pynamodb.models import Model


def _dynamodb_only_loader() -> type[botocore.loaders.Loader] | None:
    """botocore's data loader (same search paths, files and caches) whose list of available
    services holds only DynamoDB; None if this botocore lacks what it overrides."""
    loader = botocore.loaders.Loader
    if not (
        callable(getattr(botocore.loaders, "instance_cache", None))
        and callable(getattr(loader, "list_available_services", None))
        and callable(getattr(loader, "list_api_versions", None))
    ):
        return None

    class DynamoDbOnlyLoader(botocore.loaders.Loader):
        SERVICES = ("dynamodb",)

        @botocore.loaders.instance_cache
        def list_available_services(self, type_name: str) -> list[str]:
            return [name for name in self.SERVICES if self.list_api_versions(name, type_name)]

    return DynamoDbOnlyLoader


DynamoDbOnlyLoader = _dynamodb_only_loader()


def new_session() -> botocore.session.Session:
    """A botocore session whose data loader knows only DynamoDB (when this botocore allows it)."""
    session = botocore.session.get_session()
    if DynamoDbOnlyLoader is None:
        return session
    data_path = session.get_config_variable("data_path")  # AWS_DATA_PATH, as botocore reads it
    extra = (
        [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)]
        if data_path
        else None
    )
    session.register_component("data_loader", DynamoDbOnlyLoader(extra_search_paths=extra))
    return session


def share_session(model: type[Model], session: botocore.session.Session) -> Connection:
    """Drop the model's connection (its Meta changed) and make its next one use `session`."""
    model._connection = None
    connection = model._get_connection().connection
    connection._local.session = session
    return connection


def share_client(connection: Connection, attempts: int, client: Any | None) -> Any:
    """Make the connection's client attempt a call at most `attempts` times (botocore's standard
    retries) and be `client` if given; return its client."""
    connection._retry_configuration = {"total_max_attempts": attempts, "mode": "standard"}
    if client is not None:
        connection._client = client
        return client
    return connection.client


def table_connection(model: type[Model]) -> TableConnection:
    """The model's table connection (`batch_write_item`, `query` of raw items)."""
    return model._get_connection()


def low_level_connection(model: type[Model]) -> Connection:
    """The connection under the model's table connection (what `TransactWrite` takes)."""
    return model._get_connection().connection


def batch_attempts(model: type[Model]) -> int:
    """pynamodb's `max_retry_attempts` for the model (its setting, 3 by default): the calls a
    batch write makes at most."""
    return int(model.Meta.max_retry_attempts)


def hash_key(model: type[Model], value: Any) -> Any:
    """The model's hash key `value` serialized (what `TableConnection.query` takes)."""
    return model._serialize_keys(value)[0]
