"""The overview's pure parts: period arithmetic and the heatmap's levels."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from web.overview import heat_levels, period_bounds

days = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))


@given(days, st.sampled_from(["day", "week", "month"]))
def test_a_period_contains_its_anchor_and_periods_tile_the_calendar(
    anchor: date, period: str
) -> None:
    start, end = period_bounds(period, anchor)  # type: ignore[arg-type]
    assert start <= anchor < end
    # The next period starts where this one ends: no gaps, no overlaps.
    assert period_bounds(period, end)[0] == end  # type: ignore[arg-type]
    assert period_bounds(period, start - timedelta(days=1))[1] == start  # type: ignore[arg-type]


def test_weeks_start_on_monday_and_months_on_the_first() -> None:
    assert period_bounds("week", date(2026, 12, 4)) == (date(2026, 11, 30), date(2026, 12, 7))
    assert period_bounds("month", date(2026, 12, 4)) == (date(2026, 12, 1), date(2027, 1, 1))
    assert period_bounds("month", date(2024, 2, 29)) == (date(2024, 2, 1), date(2024, 3, 1))
    assert period_bounds("day", date(2026, 12, 4)) == (date(2026, 12, 4), date(2026, 12, 5))


@given(st.lists(st.integers(min_value=0, max_value=10**8), max_size=400))
def test_heat_levels_are_zero_for_idle_days_and_grow_with_time(values: list[int]) -> None:
    levels = heat_levels(values)
    assert len(levels) == len(values)
    for value, level in zip(values, levels, strict=True):
        assert (level == 0) == (value == 0) and 0 <= level <= 4
    pairs = sorted(zip(values, levels, strict=True))
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(pairs))
