"""A Redis client that lets another writer in at the worst moment, for race tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

__all__ = ["WritesWhileAsked"]

Write = Callable[[], Awaitable[object]]


class WritesWhileAsked:
    """Wraps a client; right after a stream is first queried (``XRANGE`` or ``XINFO``),
    runs that stream's pending write before handing back the answer.

    That is a gateway creating a stream while a reader starting up asks where it begins:
    any reader that needs two queries to know has its answer change in between.
    Everything else goes straight to the wrapped client.
    """

    def __init__(self, redis: aioredis.Redis, writes: dict[str, Write]) -> None:
        self._redis = redis
        self._writes = dict(writes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._redis, name)

    async def _then_write(self, stream: Any) -> None:
        name = stream.decode() if isinstance(stream, bytes) else str(stream)
        write = self._writes.pop(name, None)
        if write is not None:
            await write()

    async def xrange(self, name: Any, *args: Any, **kwargs: Any) -> Any:
        answer = await self._redis.xrange(name, *args, **kwargs)
        await self._then_write(name)
        return answer

    async def xinfo_stream(self, name: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            answer = await self._redis.xinfo_stream(name, *args, **kwargs)
        finally:
            await self._then_write(name)
        return answer
