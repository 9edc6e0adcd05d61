"""The retention window: never an entry younger than the window, and no more kept than
one trim interval beyond it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projector.append_times import AppendTimes

# steps in time order: (ms later, entries appended then, whether the trimmer runs then)
_steps = st.lists(
    st.tuples(st.integers(0, 50), st.integers(0, 3), st.booleans()), min_size=1, max_size=60
)


@given(steps=_steps, window=st.integers(0, 200))
def test_only_entries_older_than_the_window_are_offered_for_trimming(
    steps: list[tuple[int, int, bool]], window: int
) -> None:
    times = AppendTimes()
    appended_at: list[int] = []  # per offset, when it was appended
    notes: list[tuple[int, int]] = []  # what the trimmer saw: (time, highwater)
    now = 0
    for gap, entries, trims in steps:
        now += gap
        appended_at += [now] * entries
        if not trims:
            continue
        times.note("s", now, len(appended_at))
        notes.append((now, len(appended_at)))
        aged = times.appended_before("s", now - window)
        assert all(at <= now - window for at in appended_at[:aged])  # never a young entry
        seen = [highwater for when, highwater in notes if when <= now - window]
        assert aged == (seen[-1] if seen else 0)  # everything the notes prove old


def test_a_highwater_that_went_down_forgets_the_old_notes() -> None:
    times = AppendTimes()
    times.note("s", 0, 100)
    times.note("s", 10, 3)  # the log was lost and starts again
    assert times.appended_before("s", 5) == 0
    assert times.appended_before("s", 10) == 3
    assert times.appended_before("other", 10) == 0
