"""Opaque pagination cursors: where the next page starts, tagged with what it pages through."""

from __future__ import annotations

import base64
import binascii
import json

from powerfactor.errors import InvalidCursor


def encode(kind: str, after: str) -> str:
    """A cursor for the page after the item `after`, valid only for `kind` (plants, data, day...)."""
    return base64.urlsafe_b64encode(json.dumps({"k": kind, "after": after}).encode()).decode()


def decode(cursor: str, kind: str) -> str:
    """The `after` of a cursor this API returned for `kind`; InvalidCursor for anything else."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if data["k"] != kind or not isinstance(data["after"], str):
            raise ValueError(cursor)
        return data["after"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise InvalidCursor() from None
