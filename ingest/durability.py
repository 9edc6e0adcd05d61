"""The gateway's check that Redis keeps what it acknowledges, and the gate it keeps.

At start-up (:mod:`ingest.app`) a volatile Redis in production ends the process. When
Redis could not be asked then (it was down), the gateway starts unready and nothing it
appends may be acknowledged until the check has been made: ``/readyz`` makes it (an
orchestrator sends no traffic meanwhile), and so does every upload or session request
that reaches the pod straight, past a readiness-aware balancer (:class:`DurabilityGate`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ingest.errors import RETRY_AFTER_SECONDS, ApiError
from mindhit.logs import get_logger
from mindhit.redis_durability import VolatileRedisError, check_redis_durability
from mindhit.settings import Settings

__all__ = ["REFUSAL_KEPT_S", "DurabilityGate", "require_durable", "verify_durability"]

log = get_logger(__name__)

REFUSAL_KEPT_S = 5.0
"""How long a refusal stands before Redis is asked again (an operator may turn on its
persistence without restarting the gateway; uploads meanwhile cost no extra round trips)."""


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


class DurabilityGate:
    """Whether the gateway may acknowledge what it appends to Redis.

    Open once Redis's durability was checked and found acceptable; the check is made at
    most once at a time, and a refusal (:class:`VolatileRedisError`) is remembered for
    :data:`REFUSAL_KEPT_S`. Once open it stays open, as after a check at start-up.
    """

    def __init__(
        self,
        check: Callable[[], Awaitable[None]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``check`` raises :class:`VolatileRedisError`, or a Redis error when Redis
        cannot be asked (:func:`verify_durability` bound to the gateway's client)."""
        self._check = check
        self._clock = clock
        self._lock = asyncio.Lock()
        self._refused: tuple[float, VolatileRedisError] | None = None
        self.checked = False
        """Whether the check was made and passed (read on every upload: no await)."""

    async def at_start_up(self) -> None:
        """The start-up check: a volatile Redis in production raises (the process ends);
        an unreachable one leaves the gate closed, to be checked by :meth:`ensure`."""
        try:
            await self._check()
        except (RedisError, OSError) as exc:
            log.warning("redis_durability_unknown", error=repr(exc))
            return
        self.checked = True

    async def ensure(self, *, again: bool = False) -> None:
        """Return once Redis's durability is known to be acceptable; ``again``: ask Redis
        even while a refusal stands (readiness probes: rare, and should see a fix at once).

        Raises:
            VolatileRedisError: it is not (now, or within the last :data:`REFUSAL_KEPT_S`).
            RedisError, OSError: Redis could not be asked.
        """
        if self.checked:
            return
        async with self._lock:
            if self.checked:
                return
            if not again and self._refused is not None and self._clock() < self._refused[0]:
                raise self._refused[1]
            try:
                await self._check()
            except VolatileRedisError as exc:
                self._refused = (self._clock() + REFUSAL_KEPT_S, exc)
                raise
            self._refused = None
            self.checked = True


async def require_durable(gate: DurabilityGate) -> None:
    """Refuse to take what Redis may not keep: 503 with ``Retry-After`` and the reason.

    Costs nothing once the gate is open; before, the request waits for the check
    (Redis unreachable: its error answers 503 as any Redis outage does).
    """
    if gate.checked:
        return
    try:
        await gate.ensure()
    except VolatileRedisError as exc:
        raise ApiError(
            503,
            f"redis would not keep what it acknowledges: {exc}",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from exc
