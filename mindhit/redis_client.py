"""The one place a Redis client is made: every component connects through :func:`connect_redis`.

Keeping client construction in one function means a change of how MindHit talks to
Redis (timeouts, retries, a Redis Cluster client) is made once for every service.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

__all__ = ["connect_redis"]


def connect_redis(url: str, **options: Any) -> aioredis.Redis:
    """An asyncio Redis client for ``url`` (``options`` as for ``redis.asyncio.Redis``).

    No connection is opened until the first command. Replies are ``bytes`` unless
    ``decode_responses=True`` is given.
    """
    return aioredis.Redis.from_url(url, **options)
