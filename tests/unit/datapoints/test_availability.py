"""Availability and lost energy (datapoints/availability.py) against a brute-force count."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from powerfactor.datapoints.availability import (
    DEFAULT,
    Availability,
    Thresholds,
    hour_state,
    of_hours,
    trailing_outage,
)
from tests.support import PURE

values = st.floats(min_value=0, max_value=101, allow_nan=False)
hours = st.lists(st.tuples(values, values, values), max_size=60)


def test_states_at_the_thresholds() -> None:
    assert hour_state(10.0, 50.0, 5.0) == "available"
    assert hour_state(10.0, 49.999, 5.0) == "dark"  # too little sun to expect anything
    assert hour_state(0.0, 90.0, 0.0) == "dark"  # no expected energy: nothing to lose
    assert hour_state(10.0, 90.0, 0.1) == "unavailable"  # 1 % of expected is near zero
    assert hour_state(10.0, 90.0, 0.1001) == "available"
    assert hour_state(10.0, 90.0, 0.0) == "unavailable"


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError, match="zero_fraction"):
        Thresholds(zero_fraction=1.0)
    with pytest.raises(ValueError, match="min_irradiation"):
        Thresholds(min_irradiation=float("nan"))


def test_figures_of_a_small_day() -> None:
    day = [(0.0, 0.0, 0.0)] * 6 + [(10.0, 80.0, 9.0), (20.0, 90.0, 0.0), (30.0, 95.0, 0.2), (5.0, 10.0, 0.0)]
    result = of_hours(day)
    assert (result.available, result.unavailable, result.dark) == (1, 2, 7)
    assert result.lost_energy == 50.0
    assert result.expected_energy == 60.0
    assert result.time_availability == pytest.approx(1 / 3)
    assert result.energy_availability == pytest.approx(1 / 6)
    nothing = of_hours([(0.0, 0.0, 0.0)])
    assert nothing.time_availability is None and nothing.energy_availability is None


@PURE
@given(hours)
def test_counts_and_sums_match_a_brute_force_count(day: list[tuple[float, float, float]]) -> None:
    result = of_hours(day)
    expected_to_produce = [h for h in day if h[1] >= DEFAULT.min_irradiation and h[0] > 0]
    down = [h for h in expected_to_produce if h[2] <= DEFAULT.zero_fraction * h[0]]  # float64, as documented
    assert result.unavailable == len(down)
    assert result.available == len(expected_to_produce) - len(down)
    assert result.dark == len(day) - len(expected_to_produce)
    assert result.lost_energy == float(sum((Fraction(h[0]) for h in down), Fraction(0)))
    assert result.expected_energy == float(sum((Fraction(h[0]) for h in expected_to_produce), Fraction(0)))


@PURE
@given(st.lists(hours, max_size=8))
def test_sums_of_stored_rollups_are_exact(days: list[list[tuple[float, float, float]]]) -> None:
    """Summing per-day results kept with their residuals gives what one pass over all hours gives."""
    whole = of_hours([h for day in days for h in day])
    summed = Availability.of(of_hours(day, keep_residuals=True) for day in days)
    assert summed == whole


@pytest.mark.parametrize(
    ("states", "run"),
    [
        ([], 0),
        (["available"], 0),
        (["unavailable", "unavailable"], 2),
        (["unavailable", "dark", None, "unavailable"], 2),  # the night and a gap do not end it
        (["unavailable", "available", "unavailable", "dark"], 1),  # production ends it
    ],
)
def test_trailing_outage(states: list, run: int) -> None:
    assert trailing_outage(states) == run
