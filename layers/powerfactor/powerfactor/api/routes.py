"""What both API functions' routes share: the base path and the rules of their common parameters.

Each handler still declares its own parameters (a path parameter in the plants API, the
`plant-id` query parameter in the data API; cursors of different lengths), from these parts.
"""

from __future__ import annotations

import re

BASE = "/api/solar-plant"
ADMIN_BASE = f"{BASE}/keys"  # the routes of the account's keys: the admin scope besides read or write
AUDIT_PATH = f"{BASE}/audit"  # the account's audit log: the admin scope besides read
PLANT_ID_MIN, PLANT_ID_MAX = 1, 2**53  # integer ids, exact in JavaScript's numbers
CURSOR_HELP = "`next_cursor` of the previous page."

_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def strict_int(value: object) -> object:
    """The one parser of integer path and query parameters: a string of ASCII digits without a
    sign, leading zero, `_` or space (int() takes all of them), or an int from Python code.
    Bounds stay the field's (`ge`, `le`)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and len(value) <= 20 and _DECIMAL.fullmatch(value):
        return int(value)
    raise ValueError("expected an integer in decimal digits, without sign, spaces or leading zeros")
