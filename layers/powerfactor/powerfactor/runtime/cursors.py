"""Opaque pagination cursors: where the next page starts, bound to the request and the caller.

A cursor holds the position after which the next page starts, a digest of what it pages through
(its kind: plants, data, a report's granularity; and the request: plant, range) and a digest of
the caller's scope (`Principal.scope_key`: its account and key). A cursor replayed on another
request, or by another key, is refused (InvalidCursor). The digest is no secret, so a cursor
can be forged for the caller's own request with any position: each reader checks the position's
shape and that it lies in the request's own range before using it (InvalidCursor else), so a
forged cursor can at most skip within what the caller may read anyway, and never reaches date
arithmetic with a day at the calendar's edge.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from powerfactor.runtime.errors import InvalidCursor


def _digest(kind: str, request: str) -> str:
    return hashlib.sha256(f"{kind}\n{request}".encode()).hexdigest()[:16]


def scope_digest(scope: str) -> str:
    """What a cursor holds of the caller's scope (`s`)."""
    return hashlib.sha256(f"scope\n{scope}".encode()).hexdigest()[:16]


def encode(kind: str, after: str, request: str, scope: str) -> str:
    """A cursor for the page after the item `after`, valid only for `kind`, this `request` and
    the caller of this `scope`."""
    payload = {"k": kind, "after": after, "r": _digest(kind, request), "s": scope_digest(scope)}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def decode(cursor: str, kind: str, request: str, scope: str) -> str:
    """The `after` of a cursor this API returned for `kind`, `request` and the caller of `scope`;
    InvalidCursor else."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if (
            data["k"] != kind
            or data["r"] != _digest(kind, request)
            or data["s"] != scope_digest(scope)
            or not isinstance(data["after"], str)
        ):
            raise ValueError(cursor)
        return data["after"]
    except (ValueError, TypeError, KeyError, binascii.Error, RecursionError):
        raise InvalidCursor() from None
