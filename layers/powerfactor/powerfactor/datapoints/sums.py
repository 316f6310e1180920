"""Exact sums of a plant's hours: `Sums`, and the float64 partials that keep sums of sums exact.

Every total is math.fsum of its values; a day's or month's rounded total carries the partials it
lacks (`residuals`), so summing stored days gives the correctly rounded sum of their hours, as
if summed hour by hour. Pure arithmetic: the store packs these into its items.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

Residuals = tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...]]
_EXACT: Residuals = ((), (), (), ())


@dataclass(frozen=True, slots=True)
class Sums:
    """Sums over some hours: how many hours, and the four totals.

    `residuals` holds, per total, float64 partials whose exact sum is what the rounded total lacks
    (empty: the total is exact, or its remainder is unknown). `Sums.of` uses them, so summing
    days gives the correctly rounded sum of their hours; its own result carries none.
    """

    hours: int
    expected_energy: float
    expected_irradiation: float
    observed_energy: float
    observed_irradiation: float
    residuals: Residuals = _EXACT

    @staticmethod
    def of(parts: Iterable[Sums]) -> Sums:
        parts = list(parts)
        return Sums(
            sum(p.hours for p in parts),
            math.fsum(_chained(parts, 0, "expected_energy")),
            math.fsum(_chained(parts, 1, "expected_irradiation")),
            math.fsum(_chained(parts, 2, "observed_energy")),
            math.fsum(_chained(parts, 3, "observed_irradiation")),
        )


def _chained(parts: list[Sums], index: int, name: str) -> list[float]:
    values = [getattr(p, name) for p in parts]
    for p in parts:
        if p.residuals[index]:
            values += p.residuals[index]
    return values


def _partials(values: Iterable[float]) -> list[float]:
    """Non-overlapping float64 values whose exact sum is the exact sum of `values` (Shewchuk's
    algorithm, the one math.fsum runs; finite values that do not overflow)."""
    partials: list[float] = []
    for x in values:
        i = 0
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo:
                partials[i] = lo
                i += 1
            x = hi
        partials[i:] = [x]
    return [p for p in partials if p]


def residual(values: list[float], rounded: float) -> tuple[float, ...]:
    """Partials of (exact sum of `values`) - `rounded`; () if that is 0 or not finite.

    Almost always that difference is one float64 (it spans the bits below the rounded sum's
    last one, down to the smallest value's last bit): two math.fsum calls find and check it;
    Shewchuk's loop in Python (four times a day, per value) only runs when not."""
    difference = [*values, -rounded]
    rest = math.fsum(difference)
    if rest == 0 or not math.isfinite(rest):
        return ()
    difference.append(-rest)
    if math.fsum(difference) == 0:
        return (rest,)
    partials = _partials(difference[:-1])
    return tuple(partials) if all(math.isfinite(r) for r in partials) else ()
