"""A plant's hours as stored: `Datapoint`.

Apart from the API's page models (`schemas.py`), so that what writes and reads hours (the store,
the sync's client of the monitoring service) imports no pydantic model it does not serve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Datapoint:
    """One hour of one plant, as the monitoring service measured it (UTC hour, kWh and Wh/m²)."""

    hour: datetime
    expected_energy: float
    expected_irradiation: float
    observed_energy: float
    observed_irradiation: float
