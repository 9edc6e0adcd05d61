"""A worker's state saves are fenced by the lease of the partitions its membership holds."""

from __future__ import annotations

from types import SimpleNamespace

from mindhit.keys import partition_lease_key
from processors.transport.fence import partition_fence


def _app(held: set[int] | None) -> SimpleNamespace:
    membership = SimpleNamespace(held=held) if held is not None else None
    consumer = SimpleNamespace(membership=membership, ctx=SimpleNamespace(member="w-1"))
    return SimpleNamespace(_consumer=consumer, conf=SimpleNamespace(id="mindhit-processors"))


def test_a_held_partition_is_fenced_by_its_lease_and_others_are_not() -> None:
    app = _app({2, 5})
    assert partition_fence(app, "mh", 2) == (
        partition_lease_key("mh", "mindhit-processors", 2),
        "w-1",
    )
    assert partition_fence(app, "mh", 3) is None
    assert partition_fence(_app(None), "mh", 2) is None
    assert partition_fence(SimpleNamespace(conf=SimpleNamespace(id="x")), "mh", 2) is None
