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
from processors.transport.catalog import TopicCatalog
from processors.transport.consumer import Consumer
from processors.transport.context import GroupContext
from processors.transport.options import TransportOptions, parse_broker_url
from processors.transport.producer import Producer

__all__ = ["TopicCatalog", "Transport"]


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
        self.catalog = TopicCatalog(self.new_client, self.options.prefix, app.conf.topic_partitions)

    def new_client(self) -> aioredis.Redis:
        """A new Redis client for the broker (each user closes its own)."""
        return connect_redis(self.options.redis_url, decode_responses=False)

    def group_context(self, member: str) -> GroupContext:
        """What a consumer and its services share, for worker ``member`` of the app's group."""
        return GroupContext(
            options=self.options,
            catalog=self.catalog,
            group=str(self.app.conf.id),
            member=member,
            new_client=self.new_client,
        )
