"""Where the stream transport keeps its bookkeeping in Redis (the key layout).

The Faust transport writes these keys; the lag report, the projector's stream
retention and the dashboard read them, so the layout lives in the core where every
service may import it:

``<prefix>:topics``           hash topic → msgpack ``{partitions, compacting}``
``<prefix>:offsets:<group>``  hash ``"<topic>:<partition>"`` → next offset to read, and
                              ``epoch.p<N>``: the log epoch of partition N when last committed
``<prefix>:groups``           set of groups that ever committed
``<prefix>:group:{<group>}:members``  sorted set member id → heartbeat expiry (Redis time, ms)
``<prefix>:group:{<group>}:state``    hash ``generation``, ``view`` (live member ids, sorted,
                              newline-separated), ``assignment`` (JSON list: owner of each
                              partition, absent until published) and ``last`` (the latest one)
The projector's replicas form the group :data:`PROJECTOR_GROUP` with the same keys
(members, state, leases; no offsets hash: their positions are in PostgreSQL).

``<prefix>:{p<N>}:lease:<group>``      hash ``lease.member``, ``lease.expires``: who owns
                              partition N of the group (its hash tag is the partition's, so a
                              changelog append can be fenced by it in one Lua call)
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
    "offsets_key",
    "parse_tp_field",
    "partition_lease_key",
    "topics_key",
    "tp_field",
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


def topics_key(prefix: str) -> str:
    """The hash of declared topics."""
    return f"{prefix}:topics"


def offsets_key(prefix: str, group: str) -> str:
    """The hash of a consumer group's committed offsets (and its lease fields)."""
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
