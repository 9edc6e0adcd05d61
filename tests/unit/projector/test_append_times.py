"""The retention window: never an entry younger than the window, and no more kept than
one trim interval beyond it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from hypothesis import given
from hypothesis import strategies as st

from projector.append_times import AppendTimes, decode_notes, encode_notes

# steps in time order: (ms later, entries appended then, whether the trimmer runs then)
_steps = st.lists(
    st.tuples(st.integers(0, 50), st.integers(0, 3), st.booleans()), min_size=1, max_size=60
)


def _trims(
    times: AppendTimes, steps: list[tuple[int, int, bool]]
) -> Iterator[tuple[int, list[int], list[tuple[int, int]]]]:
    """Play ``steps`` on stream "s": at each trimmer run, note the highwater in ``times`` and
    yield (now, when each offset was appended, what the trimmer saw: (time, highwater))."""
    appended_at: list[int] = []
    notes: list[tuple[int, int]] = []
    now = 0
    for gap, entries, trims in steps:
        now += gap
        appended_at += [now] * entries
        if trims:
            times.note("s", now, len(appended_at))
            notes.append((now, len(appended_at)))
            yield now, appended_at, notes


@given(steps=_steps, window=st.integers(0, 200))
def test_only_entries_older_than_the_window_are_offered_for_trimming(
    steps: list[tuple[int, int, bool]], window: int
) -> None:
    times = AppendTimes()
    for now, appended_at, notes in _trims(times, steps):
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


@given(steps=_steps, window=st.integers(0, 200), spacing=st.integers(1, 60))
def test_spaced_notes_stay_few_true_and_at_most_one_spacing_behind(
    steps: list[tuple[int, int, bool]], window: int, spacing: int
) -> None:
    times = AppendTimes(spacing)
    for now, appended_at, seen in _trims(times, steps):
        aged = times.appended_before("s", now - window)
        assert all(at <= now - window for at in appended_at[:aged])  # never a young entry
        older = [hw for when, hw in seen if when <= now - window - spacing]
        assert aged >= (older[-1] if older else 0)  # at most one spacing more kept
        # bounded: past the one answered from, any two notes apart are a spacing apart
        assert len(times.notes("s")) <= 2 * (window // spacing) + 4


@given(notes=st.lists(st.tuples(st.integers(0, 10**13), st.integers(0, 10**9)), max_size=30))
def test_notes_survive_their_encoding_and_a_disordered_value_gives_none(
    notes: list[tuple[int, int]],
) -> None:
    ordered = sorted(set(notes))
    monotone = all(a[1] <= b[1] for a, b in itertools.pairwise(ordered))
    decoded = decode_notes(encode_notes(ordered))
    assert decoded == (ordered if monotone else [])
    restored = AppendTimes()
    restored.restore("s", decoded)
    assert restored.notes("s") == decoded


def test_a_mangled_value_gives_no_notes() -> None:
    assert decode_notes(b"12:3,x:4") == []
    assert decode_notes("12:3:4") == []
    assert decode_notes(b"") == []
