"""DynamoDB transactions through pynamodb: each item's cancellation reason, an idempotency token,
and the retry of a transaction that only lost a race.

DynamoDB cancels concurrent transactions on one item with `TransactionConflict` rather than
serializing them; a retry then sees the winner's write and its conditions decide the outcome. A
failed condition in the same cancellation has decided it already, so it is never retried.
pynamodb sends a transaction's items as condition checks, then deletes, puts and updates, each in
the order added: the reasons come in that order.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable

from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from powerfactor.aws import internals
from powerfactor.runtime.errors import StorageBusy

ATTEMPTS = 10


def reasons(error: TransactWriteError, items: int) -> list[str | None]:
    """The cancellation reason of each of the transaction's `items` items, None where there is
    none: a transaction refused as a whole (throttled, malformed) has no reasons at all."""
    codes = [reason.code if reason else None for reason in (error.cancellation_reasons or [])]
    return (codes + [None] * items)[:items]


def token() -> str:
    """A transaction's idempotency token: botocore's retry of a transaction whose answer was lost
    (a timeout) is then applied at most once."""
    return str(uuid.uuid4())


def backoff(attempt: int) -> None:
    """Sleep before retrying a transaction that lost a race: exponential, with full jitter, so
    that racers do not collide again in step (at most 0.5 s)."""
    time.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))


def transact(
    model: type[Model], write: Callable[[TransactWrite], None], items: int, what: str
) -> list[str | None]:
    """Run the transaction `write` builds on `model`'s table, again when it only lost a race: []
    on success, else the reasons of a cancellation with a failed condition (one per item).
    StorageBusy ("concurrent changes of `what` kept conflicting") after ATTEMPTS lost races; any
    other failure is raised."""
    for attempt in range(ATTEMPTS):
        try:
            with TransactWrite(
                connection=internals.low_level_connection(model), client_request_token=token()
            ) as tx:
                write(tx)
            return []
        except TransactWriteError as error:
            found = reasons(error, items)
            if "ConditionalCheckFailed" in found:
                return found
            if "TransactionConflict" not in found:
                raise
            backoff(attempt)
    raise StorageBusy(f"concurrent changes of {what} kept conflicting")
