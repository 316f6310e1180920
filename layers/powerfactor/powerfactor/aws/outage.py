"""Which storage errors are an outage (retry later) and which are a bug of ours.

`response_code` is the one way storage code reads an error's DynamoDB code: pynamodb's own
`cause_response_code` raises AttributeError when the cause is a timeout (botocore's
ReadTimeoutError has `response = None`), which turned a timed-out conditional write into an
AttributeError raised from the error path itself.

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
# What the stores raise when DynamoDB fails a call: the capabilities above them catch it by this
# name, without importing pynamodb (the import rules keep pynamodb to the stores and aws/).
StorageError = PynamoDBException

# cancellation reasons of a transaction that say "try again"
_RETRYABLE_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


def response_code(error: PynamoDBException) -> str | None:
    """DynamoDB's error code (`ConditionalCheckFailedException`, ...), or None when there was no
    answer (a timeout, a refused connection): never raises."""
    response = getattr(error.cause, "response", None)
    if not isinstance(response, dict):
        return None
    code = (response.get("Error") or {}).get("Code")
    return code if isinstance(code, str) else None


def is_outage(error: PynamoDBException) -> bool:
    """True if DynamoDB was unreachable, slow, throttling or failing; False for our own mistakes."""
    if isinstance(error.cause, BotocoreConnectionError | HTTPClientError):
        return True  # timeouts, refused or dropped connections
    code = response_code(error)
    if code in _RETRYABLE_CODES:
        return True
    if code == "TransactionCanceledException":
        reasons = getattr(error, "cancellation_reasons", None) or []
        return any(reason is not None and reason.code in _RETRYABLE_REASONS for reason in reasons)
    return False
