"""The gateway's check that Redis keeps what it acknowledges, with what it logs.

At start-up (:mod:`ingest.app`) and, when Redis could not be asked then, from ``/readyz``
once it answers (:mod:`ingest.routes`): a gateway never becomes ready on a Redis whose
durability it did not check.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from mindhit.logs import get_logger
from mindhit.redis_durability import VolatileRedisError, check_redis_durability
from mindhit.settings import Settings

__all__ = ["verify_durability"]

log = get_logger(__name__)


async def verify_durability(redis: aioredis.Redis, settings: Settings) -> None:
    """Check that Redis keeps acknowledged uploads, logging what it found.

    Raises:
        VolatileRedisError: production, a volatile Redis, no override (logged).
        RedisError, OSError: Redis could not be asked.
    """
    try:
        volatile = await check_redis_durability(redis, settings)
    except VolatileRedisError as exc:
        log.error("gateway_refuses_volatile_redis", reason=str(exc))
        raise
    if volatile is not None:  # allowed: development, or production with the override
        report = log.warning if settings.env == "production" else log.info
        report("redis_is_volatile", reason=volatile, env=settings.env)
