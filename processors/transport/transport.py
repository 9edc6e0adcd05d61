"""The ``redis://`` Faust transport: one Redis, topics as partition streams.

Registered through the ``faust.transports`` entry point, so
``faust.App(id, broker="redis://127.0.0.1:6379/0?prefix=mindhit")`` uses it.
See :mod:`processors.transport.options` for the URL options.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import redis
import redis.asyncio as aioredis
from faust.exceptions import ImproperlyConfigured
from faust.transport import base
from faust.types import AppT
from yarl import URL

from mindhit.redis_client import connect_redis
from processors.transport.catalog import TopicMeta, load_topics, save_topic
from processors.transport.consumer import Consumer
from processors.transport.options import TransportOptions, parse_broker_url
from processors.transport.producer import Producer

__all__ = ["TopicCatalog", "Transport"]


class TopicCatalog:
    """Partition counts of topics, cached from the ``<prefix>:topics`` hash.

    Faust asks for partition counts synchronously (``key_partition``), so the
    catalog is loaded once and kept current by declarations; topics nobody
    declared (e.g. the gateway's raw topic) get ``default_partitions``.
    """

    def __init__(self, transport: Transport, prefix: str, default_partitions: int) -> None:
        self._transport = transport
        self.prefix = prefix
        self.default_partitions = default_partitions
        self._topics: dict[str, TopicMeta] = {}
        self._loaded = False
        self._lock = asyncio.Lock()

    async def ensure_loaded(self) -> None:
        """Read the declared topics once."""
        if self._loaded:
            return
        async with self._lock:
            if not self._loaded:
                await self.refresh()

    async def refresh(self) -> None:
        """Re-read the declared topics."""
        client = self._transport.new_client()
        try:
            self._topics.update(await load_topics(client, self.prefix))
        finally:
            await client.aclose()
        self._loaded = True

    def partitions(self, topic: str) -> int:
        """Partition count of ``topic``."""
        meta = self._topics.get(topic)
        return meta.partitions if meta else self.default_partitions

    def meta(self, topic: str) -> TopicMeta | None:
        """What ``topic`` was declared with, if it was."""
        return self._topics.get(topic)

    async def declare(self, topic: str, partitions: int, *, compacting: bool = False) -> TopicMeta:
        """Declare ``topic`` in Redis (the first declaration wins) and cache it."""
        client = self._transport.new_client()
        try:
            meta = await save_topic(
                client,
                self.prefix,
                topic,
                TopicMeta(partitions=partitions or self.default_partitions, compacting=compacting),
            )
        finally:
            await client.aclose()
        self._topics[topic] = meta
        return meta


class Transport(base.Transport):
    """Faust transport over Redis Streams with dense offsets."""

    Consumer: ClassVar[Any] = Consumer
    Producer: ClassVar[Any] = Producer

    default_port = 6379
    driver_version = f"redis-py={redis.__version__}"

    def __init__(
        self, url: list[URL], app: AppT, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        super().__init__(url, app, loop=loop)
        if app.conf.processing_guarantee.value == "exactly_once":
            raise ImproperlyConfigured(
                "the redis:// transport has no transactions: "
                "use processing_guarantee='at_least_once'"
            )
        self.options: TransportOptions = parse_broker_url(str(url[0]))
        self.catalog = TopicCatalog(self, self.options.prefix, app.conf.topic_partitions)

    def new_client(self) -> aioredis.Redis:
        """A new Redis client for the broker (each user closes its own)."""
        return connect_redis(self.options.redis_url, decode_responses=False)
