"""The lease a worker's writes outside the transport are fenced by (its dwell state).

The producer fences its appends to a partition this worker holds; the state store's
saves check the same lease (:mod:`processors.state`). Both ask the consumer's group
membership which partitions are held and the consumer's context for the member id.
"""

from __future__ import annotations

from typing import Any, cast

from mindhit.keys import partition_lease_key
from processors.transport.context import HasGroupContext

__all__ = ["partition_fence"]


def partition_fence(app: Any, prefix: str, partition: int) -> tuple[str, str] | None:
    """``(lease hash, member id)`` of ``partition`` while this worker holds it, else None.

    None too before the worker has a consumer (nothing held yet): never creates one.
    """
    consumer = getattr(app, "_consumer", None)
    membership = getattr(consumer, "membership", None)
    held: set[int] | None = getattr(membership, "held", None)
    if not held or partition not in held:
        return None
    member = cast(HasGroupContext, consumer).ctx.member
    return partition_lease_key(prefix, str(app.conf.id), partition), member
