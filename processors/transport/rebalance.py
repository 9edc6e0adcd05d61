"""Faust's side of an assignment: its own assignor, narrowed to the partitions this member owns.

The consumer hands Faust's :class:`~faust.assignor.PartitionAssignor` a one-member
group over the subscribed topics (so the topic groups and table changelogs are
worked out exactly as on Kafka), keeps the partition numbers the group's
generation gives this member, and hands that back to the assignor, so its state
(which table partitions are active here) matches what the consumer reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from faust.assignor import PartitionAssignor
from faust.assignor.client_assignment import ClientAssignment, ClientMetadata
from faust.types import TP

__all__ = ["assign_mine", "assigned_tps", "narrowed"]


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


def narrowed(metadata: ClientMetadata, mine: set[int]) -> ClientMetadata:
    """``metadata`` with only the partitions numbered in ``mine`` (actives and standbys)."""

    def keep(by_topic: Mapping[str, list[int]]) -> dict[str, list[int]]:
        return {topic: sorted(set(ps) & mine) for topic, ps in by_topic.items()}

    assignment = ClientAssignment(
        actives=keep(metadata.assignment.actives), standbys=keep(metadata.assignment.standbys)
    )
    url = metadata.url
    return ClientMetadata(
        assignment=assignment,
        url=url,
        changelog_distribution={url: keep(metadata.changelog_distribution.get(url, {}))},
        external_topic_distribution={url: keep(metadata.external_topic_distribution.get(url, {}))},
        topic_groups=metadata.topic_groups,
    )


def assign_mine(
    assignor: PartitionAssignor,
    partitions: Mapping[str, int],
    topics: Iterable[str],
    member: str,
    mine: set[int],
) -> set[TP]:
    """Run Faust's assignor for ``member``, keeping the partition numbers in ``mine``.

    Steps: 1. assign every partition of ``topics`` to ``member`` alone; 2. narrow the
    result to ``mine`` (every topic's partitions of those numbers: co-partitioned);
    3. hand the narrowed protocol assignment to the assignor (``on_assignment``), as
    Kafka's coordinator would; 4. return its topic partitions (sources and changelogs).
    """
    subscribed = set(topics)
    result = assignor.assign(
        _Cluster(partitions),  # type: ignore[arg-type]
        {member: assignor.metadata(subscribed)},
    )
    full = result[member]
    metadata = narrowed(
        ClientMetadata.loads(assignor._decompress(full.user_data)),  # type: ignore[arg-type]
        mine,
    )
    table_manager = assignor.app.tables
    protocol = ConsumerProtocolMemberAssignment(
        full.version,
        sorted(metadata.assignment.kafka_protocol_assignment(table_manager)),
        assignor._compress(metadata.dumps()),
    )
    assignor.on_assignment(protocol)
    return assigned_tps(protocol)
