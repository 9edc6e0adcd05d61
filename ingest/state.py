"""What the gateway's handlers share: clients, caches, the coalescer, quotas, metrics, clock.

Built once by :func:`ingest.app.create_app`'s lifespan and kept on ``app.state``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import psycopg_pool
import redis.asyncio as aioredis

from ingest.coalescer import Coalescer
from ingest.durability import DurabilityGate
from ingest.metrics import GatewayMetrics
from ingest.owner_cache import OwnSessions
from ingest.quota import QuotaLimiter
from ingest.stop_listener import StopListener
from ingest.tokens import TokenCache
from mindhit.clock import Clock, system_clock
from mindhit.domains import normalize_domain
from mindhit.settings import Settings

__all__ = ["GatewayState", "blocked_domains"]


@lru_cache(maxsize=4096)
def blocked_domains(global_list: tuple[str, ...], user_list: tuple[str, ...]) -> frozenset[str]:
    """The normalized union of the global and a user's block lists (memoized)."""
    return frozenset(
        domain for domain in map(normalize_domain, (*global_list, *user_list)) if domain
    )


@dataclass
class GatewayState:
    """The gateway's shared, long-lived objects."""

    settings: Settings
    redis: aioredis.Redis
    pool: psycopg_pool.AsyncConnectionPool[Any]
    tokens: TokenCache
    coalescer: Coalescer
    metrics: GatewayMetrics
    access_log: Any
    quota: QuotaLimiter
    durability: DurabilityGate
    """Whether what is appended may be acknowledged: Redis's durability checked (at
    start-up, or once Redis answers if it was down then)."""
    clock: Clock = field(default=system_clock)
    own_sessions: OwnSessions = field(default_factory=lambda: OwnSessions(ttl_s=0.0))
    stop_listener: StopListener | None = None
    """Forgets sessions stopped elsewhere from ``own_sessions`` (running: see the app)."""

    def now_ms(self) -> int:
        """The gateway's clock, Unix milliseconds (``received_at``)."""
        return self.clock()
