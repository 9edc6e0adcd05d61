"""Faust's side of an assignment: its own assignor run over the partitions this worker holds.

The consumer hands Faust's :class:`~faust.assignor.PartitionAssignor` a one-member
group over the subscribed topics, so co-partitioning and table placement are
computed exactly as on Kafka, and the assignor's state (which tables are active
here) matches what the consumer reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from faust.assignor import PartitionAssignor
from faust.types import TP

__all__ = ["assign_all", "assigned_tps"]


class _Cluster:
    """The part of Kafka's cluster metadata Faust's assignor reads."""

    def __init__(self, partitions: Mapping[str, int]) -> None:
        self._partitions = partitions

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        count = self._partitions.get(topic)
        return set(range(count)) if count else None


def assigned_tps(assignment: ConsumerProtocolMemberAssignment) -> set[TP]:
    """The topic partitions of one member's protocol assignment."""
    return {
        TP(topic, partition)
        for topic, partitions in assignment.assignment
        for partition in partitions
    }


def assign_all(
    assignor: PartitionAssignor, partitions: Mapping[str, int], topics: Iterable[str], member: str
) -> set[TP]:
    """Run Faust's assignor for ``member`` alone; it takes every partition of ``topics``.

    Steps: 1. assign over a one-member group; 2. hand the member's protocol
    assignment back to the assignor (``on_assignment``), as Kafka's coordinator
    would; 3. return its topic partitions (sources and table changelogs).
    """
    subscribed = set(topics)
    result = assignor.assign(
        _Cluster(partitions),  # type: ignore[arg-type]
        {member: assignor.metadata(subscribed)},
    )
    mine = result[member]
    assignor.on_assignment(mine)
    return assigned_tps(mine)
