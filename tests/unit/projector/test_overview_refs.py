"""Which pending references a bounded drain takes (:func:`choose_references`): the
lowest-numbered first, whole, until their visits reach what the drain may still take,
so a drain that took less than its bound left no reference behind."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projector.overview_refs import choose_references

_PENDING = st.lists(st.integers(min_value=0, max_value=60_000), max_size=12).map(
    lambda sizes: [(seq, size) for seq, size in enumerate(sizes, start=100)]
)


@given(_PENDING, st.one_of(st.none(), st.integers(min_value=-5, max_value=200_000)))
def test_a_drain_takes_a_prefix_whole_up_to_its_bound(
    pending: list[tuple[int, int]], budget: int | None
) -> None:
    chosen = choose_references(pending, budget)
    assert chosen == [seq for seq, _ in pending[: len(chosen)]]  # oldest first, in order
    named = sum(size for _, size in pending[: len(chosen)])
    if budget is None:
        assert len(chosen) == len(pending)
    elif budget <= 0:
        assert chosen == []
    else:
        if len(chosen) < len(pending):  # stopped: the bound was reached
            assert named >= budget
        if chosen:  # the last one started below the bound
            assert named - pending[len(chosen) - 1][1] < budget


def test_an_empty_reference_does_not_stop_a_drain() -> None:
    assert choose_references([(1, 0), (2, 0), (3, 5)], 1) == [1, 2, 3]
    assert choose_references([(1, 5), (2, 5)], 5) == [1]
