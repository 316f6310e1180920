"""Availability and lost energy of a plant's hours, defined once (docs/api.md, "Availability").

An hour **with data** is one of:
- *dark*: the plant was not expected to produce: expected irradiation below
  `Thresholds.min_irradiation` (Wh/m² in the hour, i.e. the hour's mean irradiance in W/m²), or
  no expected energy;
- *unavailable*: expected to produce, but its observed energy is at most
  `Thresholds.zero_fraction` of its expected energy (near zero; the product in float64);
- *available*: expected to produce, and it did.

An hour **without data** is *unknown*: it is never counted as available or unavailable, and the
figures say how many hours were unknown (the bucket's hours less those with data).

- time availability = available / (available + unavailable): None when no hour was expected to
  produce;
- lost energy = the sum of the expected energy of the unavailable hours (kWh);
- energy availability = 1 - lost energy / the expected energy of the hours that were expected
  to produce (None when that is 0): the figure fleets weight by energy.

Sums are exact (math.fsum), and `Availability.of` keeps them exact over sums of sums as
`datapoints.sums.Sums` does. An outage is a run of unavailable hours: `trailing_outage` counts
the unavailable hours at the end of a sequence, through dark and unknown hours (night does not
end an outage; only an available hour does).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from powerfactor.datapoints.sums import residual

HourState = Literal["available", "unavailable", "dark"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When an hour counts as expected to produce, and when its production counts as zero."""

    min_irradiation: float = 50.0  # Wh/m² of expected irradiation in the hour
    zero_fraction: float = 0.01  # observed energy at most this share of expected: near zero

    def __post_init__(self) -> None:
        if not (math.isfinite(self.min_irradiation) and self.min_irradiation >= 0):
            raise ValueError("min_irradiation must be a finite number >= 0")
        if not (math.isfinite(self.zero_fraction) and 0 <= self.zero_fraction < 1):
            raise ValueError("zero_fraction must be in [0, 1)")


DEFAULT = Thresholds()


def hour_state(
    expected_energy: float,
    expected_irradiation: float,
    observed_energy: float,
    thresholds: Thresholds = DEFAULT,
) -> HourState:
    """The state of one hour with data."""
    if expected_irradiation < thresholds.min_irradiation or not expected_energy > 0:
        return "dark"
    if observed_energy <= thresholds.zero_fraction * expected_energy:
        return "unavailable"
    return "available"


@dataclass(frozen=True, slots=True)
class Availability:
    """Counts and sums over some hours with data; `residuals` as in `Sums` (what the rounded
    `lost_energy` and `expected_energy` lack, in that order)."""

    available: int = 0
    unavailable: int = 0
    dark: int = 0
    lost_energy: float = 0.0  # kWh: expected energy of the unavailable hours
    expected_energy: float = 0.0  # kWh: expected energy of the available and unavailable hours
    residuals: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())

    @property
    def time_availability(self) -> float | None:
        expected_to_produce = self.available + self.unavailable
        return self.available / expected_to_produce if expected_to_produce else None

    @property
    def energy_availability(self) -> float | None:
        return 1.0 - self.lost_energy / self.expected_energy if self.expected_energy > 0 else None

    @staticmethod
    def of(parts: Iterable[Availability]) -> Availability:
        """The exact sum of `parts` (rounded once), without residuals of its own."""
        parts = list(parts)
        lost = [p.lost_energy for p in parts] + [r for p in parts for r in p.residuals[0]]
        expected = [p.expected_energy for p in parts] + [r for p in parts for r in p.residuals[1]]
        return Availability(
            sum(p.available for p in parts),
            sum(p.unavailable for p in parts),
            sum(p.dark for p in parts),
            math.fsum(lost),
            math.fsum(expected),
        )


def of_hours(
    hours: Iterable[tuple[float, float, float]],
    thresholds: Thresholds = DEFAULT,
    *,
    keep_residuals: bool = False,
) -> Availability:
    """Availability of hours given as (expected energy, expected irradiation, observed energy).

    With `keep_residuals`, the result carries what its rounded sums lack, so that summing such
    results (`Availability.of`) is exact: for stored day and month rollups."""
    counts = {"available": 0, "unavailable": 0, "dark": 0}
    lost: list[float] = []
    expected: list[float] = []
    for expected_energy, expected_irradiation, observed_energy in hours:
        state = hour_state(expected_energy, expected_irradiation, observed_energy, thresholds)
        counts[state] += 1
        if state != "dark":
            expected.append(expected_energy)
            if state == "unavailable":
                lost.append(expected_energy)
    lost_sum, expected_sum = math.fsum(lost), math.fsum(expected)
    residuals = (residual(lost, lost_sum), residual(expected, expected_sum)) if keep_residuals else ((), ())
    return Availability(
        counts["available"], counts["unavailable"], counts["dark"], lost_sum, expected_sum, residuals
    )


def trailing_outage(states: Sequence[HourState | None]) -> int:
    """How many unavailable hours end `states` (oldest first; None = unknown), counted back
    through dark and unknown hours up to the last available hour."""
    run = 0
    for state in reversed(states):
        if state == "available":
            break
        if state == "unavailable":
            run += 1
    return run
