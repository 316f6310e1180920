"""Signed webhook deliveries of alert events (AlertWebhookUrl, AlertWebhookSecret).

Each alert event reaches the webhook's queue from the bus and is POSTed by
`functions/alert_webhook` as it came (the EventBridge event, JSON), with two headers, signed as
Stripe and GitHub sign theirs:
- `PowerFactor-Timestamp: <unix seconds>`, when this attempt was sent;
- `PowerFactor-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`, one `v1=` entry
  per secret (comma-separated), so a receiver may accept an old and a new secret while they rotate;
  the `v1` names the scheme, so that another can come beside it.
A receiver recomputes the HMAC over the exact bytes received, compares in constant time, and
refuses a timestamp more than `TOLERANCE_SECONDS` from its clock and a (timestamp, signature) it
has seen (README, "Verifying webhooks"). Each retry is signed afresh.

Delivery follows no redirect (a 3xx is a failure) and times out; a 2xx is success, anything else
a `DeliveryFailed`, which the handler reports so that SQS retries the message later.
The secret is never logged nor part of an error's text.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Sequence

import requests

SCHEME = "v1"
TIMESTAMP_HEADER = "PowerFactor-Timestamp"
SIGNATURE_HEADER = "PowerFactor-Signature"
TOLERANCE_SECONDS = 300  # the replay window a receiver should allow
TIMEOUT = (3.05, 10)  # connect, read (seconds); the function's timeout is longer


class DeliveryFailed(Exception):
    """The receiver did not answer 2xx (or could not be reached): SQS retries the message."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>` with this secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signed_headers(secrets: Sequence[str], body: bytes, timestamp: int) -> dict[str, str]:
    """The headers of one delivery of `body` at `timestamp`, signed with each secret."""
    if not secrets:
        raise ValueError("a webhook delivery needs at least one secret")
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: ",".join(f"{SCHEME}={signature(s, timestamp, body)}" for s in secrets),
    }


def new_session() -> requests.Session:
    """A session for deliveries (`deliver` follows no redirect): no proxies or .netrc from the
    environment."""
    session = requests.Session()
    session.trust_env = False
    return session


def deliver(
    url: str,
    secrets: Sequence[str],
    body: bytes,
    session: requests.Session | None = None,
    clock: Callable[[], float] = time.time,
) -> int:
    """POST `body`, signed now, to the webhook; its HTTP status if 2xx, else DeliveryFailed."""
    headers = signed_headers(secrets, body, int(clock()))
    try:
        response = (session or new_session()).post(
            url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False
        )
    except requests.RequestException as error:
        raise DeliveryFailed(f"webhook unreachable: {type(error).__name__}") from None
    with response:
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"webhook answered HTTP {response.status_code}")
        return response.status_code
