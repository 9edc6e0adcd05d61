"""Where the stream transport keeps its bookkeeping in Redis (the key layout).

The Faust transport writes these keys; the lag report, the projector's stream
retention, recovery and the dashboard read them, so the layout lives in the core where
every service may import it:

``<prefix>:topics``           hash topic → msgpack ``{partitions, compacting}``
``<prefix>:{p<N>}:offsets:<group>``  hash ``"<topic>:<N>"`` → next offset to read, for every
                              topic's partition N, and ``epoch.p<N>``: the log epoch of
                              partition N when last committed
``<prefix>:groups``           set of groups that ever committed
``<prefix>:group:{<group>}:members``  sorted set member id → heartbeat expiry (Redis time, ms)
``<prefix>:group:{<group>}:state``    hash ``generation``, ``view`` (live member ids, sorted,
                              newline-separated), ``assignment`` (JSON list: owner of each
                              partition, absent until published) and ``last`` (the latest one)
``<prefix>:{p<N>}:lease:<group>``      hash ``lease.member``, ``lease.expires``: who owns
                              partition N of the group
``<prefix>:{p<N>}:written:<producer>``  number of the producer's last append batch to partition
                              N (only with ``wait_replicas`` > 0; expires after an hour)
``<prefix>:{p<N>}:replicated``  the time of a producer's last replication check on the node of
                              partition N (the write its ``WAIT`` waits for; expires after 60 s)

The projector's replicas form the group :data:`PROJECTOR_GROUP` with the same keys
(members, state, leases; no offsets hash: their positions are in PostgreSQL).

Redis Cluster: a Lua script may only touch keys of one hash slot, so every key one
script touches shares a hash tag. A partition's keys carry the partition's tag ``{pN}``
(its streams, lease and offsets: a commit or a changelog append is fenced by the lease
in one Lua call); a group's membership keys carry the group's tag ``{<group>}``
(heartbeat, publish, leave). No script touches both. ``<prefix>:topics`` and
``<prefix>:groups`` are only ever used by single-key commands.

Before Redis Cluster support, a group's offsets were one hash for all partitions,
``<prefix>:offsets:<group>`` (:func:`legacy_offsets_key`, same fields). A worker moves
it into the per-partition hashes when it starts (``mindhit.offsets.migrate_legacy``);
until then readers (:func:`mindhit.offsets.read_group_fields`) still see it.
"""

from __future__ import annotations

from schema.topics import partition_tag

__all__ = [
    "EPOCH_FIELD_PREFIX",
    "LEASE_EXPIRES_FIELD",
    "LEASE_MEMBER_FIELD",
    "PROJECTOR_GROUP",
    "TP",
    "epoch_field",
    "epoch_field_partition",
    "group_members_key",
    "group_state_key",
    "groups_key",
    "is_tp_field",
    "legacy_offsets_key",
    "offsets_key",
    "parse_tp_field",
    "partition_lease_key",
    "replicated_key",
    "topics_key",
    "tp_field",
    "written_key",
]

PROJECTOR_GROUP = "projector"
"""The group of the projector's replicas (they share the partitions like a Faust group)."""

TP = tuple[str, int]
"""(topic, partition)."""


def group_members_key(prefix: str, group: str) -> str:
    """The sorted set of a consumer group's live members (scored by heartbeat expiry)."""
    return f"{prefix}:group:{{{group}}}:members"


def group_state_key(prefix: str, group: str) -> str:
    """The hash of a consumer group's generation, membership view and assignment."""
    return f"{prefix}:group:{{{group}}}:state"


def partition_lease_key(prefix: str, group: str, partition: int) -> str:
    """The lease of one partition (every topic's partition N) of a consumer group."""
    return f"{prefix}:{partition_tag(partition)}:lease:{group}"


def written_key(prefix: str, partition: int, producer: str) -> str:
    """The number of producer ``producer``'s last append batch to partition ``partition``."""
    return f"{prefix}:{partition_tag(partition)}:written:{producer}"


def replicated_key(prefix: str, partition: int) -> str:
    """The key a producer writes before ``WAIT`` on the node of partition ``partition``."""
    return f"{prefix}:{partition_tag(partition)}:replicated"


def topics_key(prefix: str) -> str:
    """The hash of declared topics."""
    return f"{prefix}:topics"


def offsets_key(prefix: str, group: str, partition: int) -> str:
    """The hash of a consumer group's committed offsets of every topic's partition ``partition``.

    It carries the partition's hash tag, like the partition's lease and streams.
    """
    return f"{prefix}:{partition_tag(partition)}:offsets:{group}"


def legacy_offsets_key(prefix: str, group: str) -> str:
    """The single offsets hash of a group for all partitions, as stored before Redis Cluster."""
    return f"{prefix}:offsets:{group}"


LEASE_MEMBER_FIELD = "lease.member"
LEASE_EXPIRES_FIELD = "lease.expires"
EPOCH_FIELD_PREFIX = "epoch.p"


def epoch_field(partition: int) -> str:
    """Offsets-hash field holding the log epoch partition ``partition`` was committed in."""
    return f"{EPOCH_FIELD_PREFIX}{partition}"


def epoch_field_partition(field: bytes | str) -> int | None:
    """The partition of an :func:`epoch_field`, or None for any other field."""
    text = field.decode() if isinstance(field, bytes) else field
    rest = text.removeprefix(EPOCH_FIELD_PREFIX)
    return int(rest) if rest != text and rest.isdigit() else None


def is_tp_field(field: bytes | str) -> bool:
    """Whether an offsets-hash field is a ``<topic>:<partition>`` (not a lease field)."""
    text = field.decode() if isinstance(field, bytes) else field
    topic, sep, partition = text.rpartition(":")
    return bool(topic and sep and partition.isdigit())


def groups_key(prefix: str) -> str:
    """The set of consumer groups that committed offsets."""
    return f"{prefix}:groups"


def tp_field(topic: str, partition: int) -> str:
    """Hash field of one topic partition."""
    return f"{topic}:{partition}"


def parse_tp_field(field: bytes | str) -> TP:
    """Inverse of :func:`tp_field` (topic names may contain ':')."""
    text = field.decode() if isinstance(field, bytes) else field
    topic, _, partition = text.rpartition(":")
    return topic, int(partition)
