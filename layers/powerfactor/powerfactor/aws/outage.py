"""Which storage errors are an outage (retry later) and which are a bug of ours.

Only throttling, timeouts, lost connections and DynamoDB's own 5xx are worth retrying: the API
answers them 503 with `Retry-After`. Anything else DynamoDB refuses (a ValidationException, a
key too large, a malformed expression) will fail the same way every time: it is a bug, answered
500 and logged as one, never disguised as "retry shortly".
"""

from __future__ import annotations

from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.exceptions import HTTPClientError
from pynamodb.exceptions import PynamoDBException

_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)
# cancellation reasons of a transaction that say "try again"
_RETRYABLE_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


def is_outage(error: PynamoDBException) -> bool:
    """True if DynamoDB was unreachable, slow, throttling or failing; False for our own mistakes."""
    if isinstance(error.cause, BotocoreConnectionError | HTTPClientError):
        return True  # timeouts, refused or dropped connections
    code = error.cause_response_code
    if code in _RETRYABLE_CODES:
        return True
    if code == "TransactionCanceledException":
        reasons = getattr(error, "cancellation_reasons", None) or []
        return any(reason is not None and reason.code in _RETRYABLE_REASONS for reason in reasons)
    return False
