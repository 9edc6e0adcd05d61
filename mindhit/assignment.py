"""Which member of a consumer group owns which partition: a pure, sticky, balanced function.

Every member computes the assignment of a generation from the same inputs read from
Redis (the generation's membership view and the previous generation's assignment),
so any member may publish it and all agree. A partition number stands for every
topic's partition of that number (and the tables' changelog partition), so the
assignment is co-partitioned by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["assign", "moved", "owned"]


def assign(partitions: int, members: Sequence[str], previous: Sequence[str]) -> list[str]:
    """The owner of each partition ``0..partitions-1`` (empty when there are no members).

    Rules:
        * balanced: every member owns ``partitions // len(members)`` partitions or one more;
        * sticky: a member keeps as many of its ``previous`` partitions as its share
          allows (its lowest-numbered ones), so only a departed member's partitions and
          a member's excess move; the members that owned most keep the larger shares;
        * deterministic: the order of ``members`` does not matter.

    Args:
        partitions: how many partitions the group's topics have.
        members: the live members of the generation.
        previous: the owner of each partition in the previous generation ("" = none).
    """
    names = sorted(set(members))
    if not names or partitions <= 0:
        return [""] * max(partitions, 0)
    held: dict[str, list[int]] = {name: [] for name in names}
    for partition, owner in enumerate(previous[:partitions]):
        if owner in held:
            held[owner].append(partition)
    base, extra = divmod(partitions, len(names))
    by_holding = sorted(names, key=lambda name: (-len(held[name]), name))
    share = {name: base + (1 if rank < extra else 0) for rank, name in enumerate(by_holding)}
    owners = [""] * partitions
    for name in names:
        for partition in held[name][: share[name]]:
            owners[partition] = name
    free = iter([p for p in range(partitions) if not owners[p]])
    for name in names:
        for _ in range(share[name] - owners.count(name)):
            owners[next(free)] = name
    return owners


def owned(owners: Sequence[str], member: str) -> set[int]:
    """The partitions ``member`` owns in an assignment."""
    return {partition for partition, owner in enumerate(owners) if owner == member}


def moved(before: Sequence[str], after: Sequence[str]) -> int:
    """How many partitions changed owner (a partition that had no owner does not count)."""
    return sum(1 for old, new in zip(before, after, strict=False) if old and old != new)
