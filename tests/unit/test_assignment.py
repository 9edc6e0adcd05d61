"""The group assignment: balanced, complete, co-partitioned by construction, sticky, minimal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mindhit.assignment import assign, moved, owned

names = st.lists(st.sampled_from([f"w{i}" for i in range(8)]), min_size=1, max_size=8, unique=True)


@given(st.integers(1, 64), names)
def test_every_partition_has_one_live_owner_and_shares_differ_by_at_most_one(
    partitions: int, members: list[str]
) -> None:
    owners = assign(partitions, members, [])
    assert len(owners) == partitions and set(owners) <= set(members)
    counts = [len(owned(owners, m)) for m in members]
    assert max(counts) - min(counts) <= 1 and sum(counts) == partitions


@given(st.integers(1, 64), names, st.randoms())
def test_the_order_members_are_listed_in_does_not_matter(
    partitions: int, members: list[str], rnd: object
) -> None:
    shuffled = list(members)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    previous = assign(partitions, members[:-1] or members, [])
    assert assign(partitions, members, previous) == assign(partitions, shuffled, previous)


@given(st.integers(1, 64), names, names)
def test_only_the_unavoidable_partitions_move(
    partitions: int, before_members: list[str], after_members: list[str]
) -> None:
    """A change of members moves the departed members' partitions and the survivors' excess."""
    before = assign(partitions, before_members, [])
    after = assign(partitions, after_members, before)
    counts = [len(owned(after, m)) for m in after_members]
    assert max(counts) - min(counts) <= 1 and all(after)
    # The fewest moves any balanced assignment can make: every partition of a departed
    # member, and whatever survivors hold beyond their shares when the larger shares go
    # to those holding most.
    base, extra = divmod(partitions, len(after_members))
    held = sorted((len(owned(before, m)) for m in after_members), reverse=True)
    keep = sum(min(h, base + (1 if rank < extra else 0)) for rank, h in enumerate(held))
    departed = sum(1 for owner in before if owner not in after_members)
    assert moved(before, after) == departed + sum(held) - keep
    # Survivors keep what they keep: nothing moves between two members that both stayed
    # unless the one losing it held more than its share.
    for partition, (old, new) in enumerate(zip(before, after, strict=True)):
        if old in after_members and old != new:
            assert len(owned(before, old)) > len(owned(after, old)), partition


def test_three_workers_share_24_partitions_and_a_kill_moves_only_the_dead_ones() -> None:
    three = assign(24, ["a", "b", "c"], [])
    assert [len(owned(three, m)) for m in "abc"] == [8, 8, 8]
    two = assign(24, ["a", "c"], three)
    assert moved(three, two) == 8 and [len(owned(two, m)) for m in "ac"] == [12, 12]
    back = assign(24, ["a", "b", "c"], two)
    assert moved(two, back) == 8 and [len(owned(back, m)) for m in "abc"] == [8, 8, 8]


def test_no_members_owns_nothing() -> None:
    assert assign(3, [], ["a", "a", "a"]) == ["", "", ""]
