"""What both API functions' routes share: the base path and the rules of their common parameters.

Each handler still declares its own parameters (a path parameter in the plants API, the
`plant-id` query parameter in the data API; cursors of different lengths), from these parts.
"""

from __future__ import annotations

BASE = "/api/solar-plant"
PLANT_ID_MIN, PLANT_ID_MAX = 1, 2**53  # integer ids, exact in JavaScript's numbers
CURSOR_HELP = "`next_cursor` of the previous page."
