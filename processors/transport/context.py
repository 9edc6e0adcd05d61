"""What the consumer and its services (membership, compaction) share.

The Faust boundary hands the consumer an untyped transport; the consumer turns it
into this typed context once, and every service it starts gets the same context
instead of reaching back into the transport or the app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from faust.types import TP

from processors.transport.catalog import TopicCatalog
from processors.transport.options import TransportOptions
from schema.topics import stream_key

__all__ = ["ContextSource", "GroupContext", "HasGroupContext"]


@dataclass(frozen=True, kw_only=True)
class GroupContext:
    """One worker of one consumer group: where its streams are and how to reach Redis."""

    options: TransportOptions
    catalog: TopicCatalog
    group: str
    """The consumer group: the Faust app id, as with Kafka."""
    member: str
    """This worker's member id (unique per process start)."""
    new_client: Callable[[], aioredis.Redis]
    """Makes a new Redis client; each service owns (and closes) its own."""

    @property
    def prefix(self) -> str:
        """Key prefix of the app's streams and bookkeeping keys."""
        return self.options.prefix

    def stream(self, tp: TP) -> str:
        """The Redis stream of one topic partition."""
        return stream_key(self.options.prefix, tp.topic, tp.partition)


class ContextSource(Protocol):
    """What the consumer needs from its transport: the typed context."""

    def group_context(self, member: str) -> GroupContext:
        """The context of worker ``member``."""
        ...


class HasGroupContext(Protocol):
    """The consumer, as the producer sees it: it knows this worker's member id."""

    ctx: GroupContext
