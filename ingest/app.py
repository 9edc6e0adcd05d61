"""Builds the gateway's Litestar application from :class:`mindhit.settings.Settings`.

The only module of the gateway that reads settings and opens connections: the
Redis client and the PostgreSQL pool are opened in the lifespan (not at import),
handed to the handlers through ``app.state``, and closed after pending uploads
are flushed.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg_pool
import redis.asyncio as aioredis
from litestar import Litestar
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from ingest.access_log import request_logger
from ingest.coalescer import Coalescer
from ingest.errors import exception_handlers
from ingest.log_epochs import GatewayEpochs
from ingest.log_writer import LogWriter
from ingest.metrics import GatewayMetrics
from ingest.openapi import complete_openapi, openapi_config
from ingest.quota import QuotaLimiter, QuotaPolicy
from ingest.routes import route_handlers
from ingest.state import GatewayState
from ingest.tokens import TokenCache
from mindhit.accounts import TokenInfo, lookup_token
from mindhit.clock import Clock, system_clock
from mindhit.logs import get_logger
from mindhit.redis_client import connect_redis
from mindhit.settings import Settings

__all__ = ["create_app", "redis_client"]

log = get_logger("ingest")


def redis_client(url: str, *, max_connections: int = 64) -> aioredis.Redis:
    """A Redis client that fails fast (so an outage becomes a quick 503, not a hang)."""
    return connect_redis(
        url,
        max_connections=max_connections,
        socket_connect_timeout=1.0,
        socket_timeout=5.0,
        retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1),
        health_check_interval=30,
    )


def create_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    tune_gc: bool = False,
) -> Litestar:
    """The gateway application.

    Args:
        settings: must name Redis and PostgreSQL (``redis_url``/``database_url``);
            ``mindhit gateway`` resolves them before calling this.
        clock: wall clock, Unix ms (``received_at``; injected for tests).
        tune_gc: after start-up, freeze the heap and raise the GC thresholds
            (measured: the collector was a third of the worker's time).
    """
    if not settings.redis_url or not settings.database_url:
        raise ValueError("the gateway needs redis_url and database_url")

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        redis = redis_client(settings.redis_url)
        pool: psycopg_pool.AsyncConnectionPool[Any] = psycopg_pool.AsyncConnectionPool(
            settings.database_url,
            min_size=1,
            max_size=4,
            open=False,
            timeout=5.0,
            kwargs={"autocommit": True},
        )
        await pool.open(wait=False)

        async def lookup(secret: str) -> TokenInfo | None:
            async with pool.connection() as conn:
                return await lookup_token(conn, secret)

        metrics = GatewayMetrics()
        writer = LogWriter(redis, settings, metrics, GatewayEpochs(redis, settings.key_prefix))
        state = GatewayState(
            settings=settings,
            redis=redis,
            pool=pool,
            tokens=TokenCache(lookup, ttl_s=settings.token_cache_seconds),
            coalescer=Coalescer(writer.write, linger_s=settings.coalesce_linger_ms / 1000),
            metrics=metrics,
            access_log=request_logger(settings),
            quota=QuotaLimiter(redis, settings.key_prefix, QuotaPolicy.of(settings)),
            clock=clock,
        )
        app.state.gateway = state
        if tune_gc:
            gc.collect()
            gc.freeze()
            gc.set_threshold(20_000, 50, 100)
        log.info("gateway_ready", partitions=settings.partitions, prefix=settings.key_prefix)
        try:
            yield
        finally:
            await state.coalescer.drain()
            await redis.aclose()
            await pool.close()

    app = Litestar(
        route_handlers=route_handlers,
        lifespan=[lifespan],
        exception_handlers=exception_handlers,
        openapi_config=openapi_config(),
        request_max_body_size=settings.max_body_bytes,
        debug=False,
        logging_config=None,
    )
    complete_openapi(app)
    return app
