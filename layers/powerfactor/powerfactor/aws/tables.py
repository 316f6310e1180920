"""Point pynamodb models at the tables and endpoint of the current settings (the one place Meta is
set), with a time budget for every DynamoDB call.

Each attempt of a call waits at most CONNECT_TIMEOUT to connect and READ_TIMEOUT for an answer,
and a call makes at most ATTEMPTS (botocore's standard retries: throttling, timeouts, 5xx), even
when DynamoDB accepts connections and never answers. An API invocation sets a deadline
(`deadline`) a little before its Lambda is killed; an attempt that could not end before it is
not sent (StorageDeadline), so the caller always gets its own 503 in time instead of the
gateway's 502, however many calls the request makes.

Every model's connection makes its client from one botocore session: pynamodb would start a
session per model, and each session loads and parses botocore's JSON models again (tens of ms
of a cold start per model, and most of a unit test's setup). And the models bound with the same
settings share one client: botocore builds a client class per client (again tens of ms at a
cold start; the plants API binds three models, the data API five), and a client is thread-safe.
The figures: bench/README.md, "Measured".
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import botocore.session
from pynamodb.models import Model

from powerfactor.aws import internals
from powerfactor.runtime.errors import StorageDeadline
from powerfactor.runtime.settings import Settings, get_settings

CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 2.0
ATTEMPTS = 2
ATTEMPT_BUDGET = CONNECT_TIMEOUT + READ_TIMEOUT  # seconds one attempt can take at most

_bound: dict[type[Model], Settings] = {}
_clients: dict[Settings, Any] = {}  # the botocore client of the models bound with these settings
_session: botocore.session.Session | None = None
_session_lock = threading.Lock()  # a botocore session is not thread-safe; the clients it makes are
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("dynamodb_deadline", default=None)


@contextmanager
def deadline(seconds_left: float) -> Iterator[None]:
    """While the block runs, refuse to send a DynamoDB attempt that could end after `seconds_left`."""
    token = _deadline.set(time.monotonic() + seconds_left)
    try:
        yield
    finally:
        _deadline.reset(token)


def _check_deadline(**_: Any) -> None:
    """botocore's `before-send` hook (every attempt): none that the deadline would cut short."""
    end = _deadline.get()
    if end is not None and time.monotonic() + ATTEMPT_BUDGET > end:
        left = end - time.monotonic()
        raise StorageDeadline(f"no time left for a DynamoDB call ({left:.1f} s to the deadline)")


def bind(models: tuple[type[Model], ...], table: Callable[[Settings], str]) -> None:
    """Set each model's table, endpoint, region and time budget from the settings; cheap when
    unchanged."""
    global _session
    settings = get_settings()
    for model in models:
        if _bound.get(model) == settings:
            continue
        with _session_lock:
            _session = _session or internals.new_session()
            _bind(model, table(settings), settings, _session)
        _bound[model] = settings


def _bind(model: type[Model], table_name: str, settings: Settings, session: botocore.session.Session) -> None:
    model.Meta.table_name = table_name
    model.Meta.host = settings.dynamodb_endpoint
    model.Meta.region = settings.region
    model.Meta.connect_timeout_seconds = CONNECT_TIMEOUT  # type: ignore[assignment]  # pynamodb says int; botocore takes float
    model.Meta.read_timeout_seconds = READ_TIMEOUT  # type: ignore[assignment]  # pynamodb says int; botocore takes float
    connection = internals.share_session(model, session)
    # botocore's attempts per call; pynamodb's own max_retry_attempts (3) stays for the
    # unprocessed items of batch calls (pynamodb 6.1 has no Meta option for this)
    shared = _clients.get(settings)
    client = internals.share_client(connection, ATTEMPTS, shared)
    if shared is not None:
        return
    client.meta.events.register("before-send.dynamodb", _check_deadline)
    _clients[settings] = client
