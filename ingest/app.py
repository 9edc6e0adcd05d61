"""Builds the gateway's Litestar application from :class:`mindhit.settings.Settings`.

The only module of the gateway that reads settings and opens connections: the
Redis client and the PostgreSQL pool are opened in the lifespan (not at import),
handed to the handlers through ``app.state``, and closed after pending uploads
are flushed.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import psycopg_pool
import redis
import redis.asyncio as aioredis
from litestar import Litestar
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from ingest.access_log import request_logger
from ingest.coalescer import Coalescer
from ingest.durability import DurabilityGate, verify_durability
from ingest.errors import exception_handlers
from ingest.log_epochs import GatewayEpochs
from ingest.log_writer import LogWriter
from ingest.metrics import GatewayMetrics
from ingest.openapi import complete_openapi, openapi_config
from ingest.owner_cache import OwnSessions
from ingest.quota import QuotaLimiter, QuotaPolicy
from ingest.routes import route_handlers
from ingest.state import GatewayState
from ingest.stop_listener import StopListener
from ingest.tokens import TokenCache
from mindhit.accounts import TokenInfo, lookup_tokens
from mindhit.clock import Clock, system_clock
from mindhit.logs import get_logger
from mindhit.metrics_http import serve_metrics
from mindhit.redis_client import connect_redis, is_cluster
from mindhit.redis_durability import VolatileRedisError
from mindhit.session_owners import settled_ttl_s
from mindhit.settings import Settings

__all__ = ["create_app", "redis_client"]

log = get_logger("ingest")


def redis_client(url: str, *, max_connections: int = 64) -> aioredis.Redis:
    """A Redis client that fails fast (so an outage becomes a quick 503, not a hang).

    With more requests in flight than ``max_connections`` (1,000 clients at once), a
    command waits for a free connection (up to a second) rather than failing: a full
    pool is load, not an outage, and answering it 503 turned saturation into errors.
    """
    return connect_redis(
        url,
        pool_timeout=1.0,
        max_connections=max_connections,
        socket_connect_timeout=1.0,
        socket_timeout=5.0,
        retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1),
        health_check_interval=30,
    )


def _timed_out(error: BaseException) -> bool:
    """Whether an entry failed because Redis did not answer in time (the uploads waiting
    behind it are answered 503 at once rather than sent to that node next)."""
    return isinstance(error, redis.TimeoutError)


def _gateway_state(settings: Settings, clock: Clock) -> GatewayState:
    """The clients, caches and coalescer the handlers share (the pool not opened yet)."""
    redis = redis_client(settings.redis_url)
    pool: psycopg_pool.AsyncConnectionPool[Any] = psycopg_pool.AsyncConnectionPool(
        settings.database_url,
        min_size=1,
        max_size=4,
        open=False,
        timeout=5.0,
        kwargs={"autocommit": True},
    )

    async def lookup(secrets: Sequence[str]) -> dict[str, TokenInfo]:
        async with pool.connection() as conn:
            return await lookup_tokens(conn, secrets)

    metrics = GatewayMetrics()
    # an own session's owner is trusted a minute (at most half its key's settled life),
    # less when it is stopped elsewhere (the stop listener forgets it at once)
    own_sessions = OwnSessions(ttl_s=min(60.0, settled_ttl_s(settings) / 2))
    writer = LogWriter(redis, settings, metrics, GatewayEpochs(redis, settings.key_prefix))
    state = GatewayState(
        settings=settings,
        redis=redis,
        pool=pool,
        tokens=TokenCache(lookup, ttl_s=settings.token_cache_seconds, spread=0.25),
        coalescer=Coalescer(
            writer.write_round, one_round=not is_cluster(redis), gives_up=_timed_out
        ),
        metrics=metrics,
        access_log=request_logger(settings),
        quota=QuotaLimiter(redis, settings.key_prefix, QuotaPolicy.of(settings)),
        clock=clock,
        own_sessions=own_sessions,
        stop_listener=StopListener(redis, settings.key_prefix, own_sessions),
        durability=DurabilityGate(partial(verify_durability, redis, settings)),
    )
    return state


def create_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    tune_gc: bool = False,
    metrics_port: int | None = None,
) -> Litestar:
    """The gateway application.

    Args:
        settings: must name Redis and PostgreSQL (``redis_url``/``database_url``);
            ``mindhit gateway`` resolves them before calling this.
        clock: wall clock, Unix ms (``received_at``; injected for tests).
        tune_gc: after start-up, freeze the heap and raise the GC thresholds
            (measured: the collector was a third of the worker's time).
        metrics_port: serve ``/metrics`` on this internal port (on ``gateway_host``);
            ``None`` = not at all. The public port never serves it.
    """
    if not settings.redis_url or not settings.database_url:
        raise ValueError("the gateway needs redis_url and database_url")

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        state = _gateway_state(settings, clock)
        redis, pool, metrics = state.redis, state.pool, state.metrics
        try:
            await state.durability.at_start_up()
        except VolatileRedisError:
            await redis.aclose()
            raise
        await pool.open(wait=False)
        app.state.gateway = state
        listener = (
            await serve_metrics(
                settings.gateway_host, metrics_port, metrics.registry, component="gateway"
            )
            if metrics_port
            else None
        )
        if tune_gc:
            gc.collect()
            gc.freeze()
            gc.set_threshold(20_000, 50, 100)
        stops = asyncio.create_task(state.stop_listener.run()) if state.stop_listener else None
        log.info("gateway_ready", partitions=settings.partitions, prefix=settings.key_prefix)
        try:
            yield
        finally:
            if stops is not None:
                stops.cancel()
                await asyncio.gather(stops, return_exceptions=True)
            if listener is not None:
                listener.close()
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
