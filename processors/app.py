"""The processors' Faust app, built from Settings: three agents on the Redis Streams transport.

``build_app(settings, redis_url)`` is the only place that reads settings and
creates clients for the processors. The agents are thin loops: each hands the
raw bytes of every message to a handler in :mod:`processors.agents` together
with an ``emit`` that sends through Faust's producer and waits for the append:

* ``dwell`` (topic ``raw``): visits, sessions, URL versions;
* ``enrich`` (topic ``urls``): one AI enrichment per URL version;
* ``mindmap`` (topic ``sessions``): one mind map per closed session.

Derived entries go to the partition of the input entry, so everything of a user
stays in order in one partition of each topic. Faust's web server (bound to
``processors_host:processors_port``) also serves ``/metrics`` and ``/healthz``.

With reports on, session reports left in the report outbox (a worker died before
sending them, or the mail server failed) are sent again when the worker is assigned
the sessions partitions and then every ``report_retry_s`` for the partitions it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import redis.asyncio as aioredis
from prometheus_client import generate_latest

from mindhit.clock import Clock, system_clock
from mindhit.logs import get_logger
from mindhit.redis_client import connect_redis
from mindhit.settings import Settings
from processors import metrics
from processors.agents.enrich import EnrichHandler
from processors.agents.mindmap import MindmapHandler, OnBuilt, Reports
from processors.agents.raw import MAX_BATCH, RawHandler
from processors.agents.reliable import handle_batch_reliably, handle_reliably
from processors.ai.base import AIProvider
from processors.batching import by_partition, ready_batches
from processors.content import ContentStore
from processors.erasure import user_eraser
from processors.report.outbox import ReportOutbox
from processors.state import Fence, StateStore, dwell_ttl_ms
from processors.transport.app_config import faust_app_options
from processors.transport.fence import partition_fence
from processors.transport.log_check import log_lost_reason
from schema.topics import DEADLETTERS_TOPIC, RAW_TOPIC, SESSIONS_TOPIC, URLS_TOPIC, VISITS_TOPIC

__all__ = ["APP_ID", "Runtime", "build_app", "tune_gc"]

log = get_logger(__name__)

APP_ID = "processors"
"""Faust app id, hence the consumer group whose offsets the transport keeps."""


ProviderFactory = Callable[[Settings], AIProvider]


def tune_gc() -> None:
    """Make the garbage collector fit a worker holding many long-lived state objects.

    With thousands of followed clients the default thresholds run full collections
    over all their state again and again (measured: decode + fold 65k → 179k
    events/s). Objects alive at start-up are frozen; collections run less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def _default_provider(settings: Settings) -> AIProvider:
    from processors.ai.factory import provider_from_settings

    return provider_from_settings(settings)


class Runtime:
    """The worker's clients and handlers, created in the worker's event loop on first use."""

    def __init__(
        self,
        settings: Settings,
        redis_url: str,
        topics: dict[str, faust.TopicT],
        provider_factory: ProviderFactory,
        clock: Clock,
        on_built: OnBuilt | None,
    ) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.topics = topics
        self.clock = clock
        self._provider_factory = provider_factory
        self._on_built = on_built
        self._lock = asyncio.Lock()
        self.redis: aioredis.Redis | None = None
        self.states: StateStore | None = None
        self.fence: Fence | None = None
        """This worker's lease of a partition, fencing its state saves (set by the app)."""
        self.raw: RawHandler | None = None
        self.enrich: EnrichHandler | None = None
        self.mindmap: MindmapHandler | None = None
        self.provider: AIProvider | None = None

    async def emit(self, topic: str, partition: int, value: bytes) -> None:
        """Send one entry now (not attached to the current event) and wait until stored."""
        future = await self.topics[topic].send(
            key=b"", value=value, partition=partition, force=True
        )
        await future

    async def enqueue(self, topic: str, partition: int, value: bytes) -> Awaitable[object]:
        """Queue one entry behind those queued before (not attached to the current event);
        returns the future resolved once it is stored (:data:`processors.agents.Enqueue`)."""
        return await self.topics[topic].send(key=b"", value=value, partition=partition, force=True)

    async def ready(self) -> Runtime:
        """Create the clients and handlers once."""
        async with self._lock:
            if self.redis is None:
                self.redis = connect_redis(self.redis_url)
                content = ContentStore(
                    self.redis,
                    self.settings.key_prefix,
                    ttl_s=self.settings.content_ttl_days * 86_400,
                )
                outbox = ReportOutbox(self.redis, self.settings.key_prefix)
                self.states = StateStore(
                    self.redis,
                    self.settings.key_prefix,
                    ttl_ms=dwell_ttl_ms(self.settings),
                    fence=self.fence,
                )
                self.provider = self._provider_factory(self.settings)
                self.raw = RawHandler(
                    self.states,
                    content,
                    self.enqueue,
                    idle_threshold_ms=self.settings.idle_threshold_s * 1000,
                    state_ttl_ms=dwell_ttl_ms(self.settings),
                )
                self.enrich = EnrichHandler(content, self.provider, self.emit, self.clock)
                self.mindmap = MindmapHandler(
                    content,
                    self.provider,
                    self.emit,
                    self.clock,
                    Reports(self._on_built, outbox) if self._on_built is not None else None,
                    on_erased=user_eraser(self.states, content, outbox),
                )
        return self

    async def close(self) -> None:
        """Let running reports finish, then release the provider and the Redis client."""
        if self.mindmap is not None:
            await self.mindmap.drain()
        if self.provider is not None:
            await self.provider.aclose()
        if self.redis is not None:
            await self.redis.aclose()


def build_app(
    settings: Settings,
    redis_url: str,
    *,
    web: bool = True,
    provider_factory: ProviderFactory = _default_provider,
    clock: Clock = system_clock,
    on_built: OnBuilt | None = None,
    report_retry_s: float = 60.0,
    **faust_options: Any,
) -> faust.App:
    """The processors' Faust app for ``settings`` (``redis_url`` is the resolved Redis).

    ``on_built`` turns session reports on; ``report_retry_s`` is how often the report
    outbox of the held sessions partitions is looked at for reports due again.
    """
    # Faust's own files (worker data dir) go under data_dir, never the working directory.
    if "datadir" not in faust_options:
        datadir = settings.data_path / "faust"
        datadir.mkdir(parents=True, exist_ok=True)
        faust_options["datadir"] = str(datadir)
    app = faust.App(APP_ID, **faust_app_options(settings, redis_url, web=web, **faust_options))
    n = settings.partitions
    topics = {
        name: app.topic(name, partitions=n, key_type=bytes, value_type=bytes)
        for name in (RAW_TOPIC, VISITS_TOPIC, URLS_TOPIC, SESSIONS_TOPIC, DEADLETTERS_TOPIC)
    }
    runtime = Runtime(settings, redis_url, topics, provider_factory, clock, on_built)
    app.runtime = runtime  # type: ignore[attr-defined]
    runtime.fence = functools.partial(partition_fence, app, settings.key_prefix)
    _agents(app, runtime, topics)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        if runtime.states is not None:
            runtime.states.forget()
        if runtime.raw is not None:
            runtime.raw.forget()

    if on_built is not None:
        _resend_reports(app, runtime, report_retry_s)
    _pages(app, runtime)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def on_shutdown(sender: Any, **kwargs: Any) -> None:
        await runtime.close()

    return app


def _agents(app: faust.App, runtime: Runtime, topics: dict[str, faust.TopicT]) -> None:
    """The three agents: thin loops handing each message to its handler."""

    @app.agent(topics[RAW_TOPIC], name="dwell")
    async def dwell(stream: faust.StreamT[bytes]) -> None:
        """Up to ``MAX_BATCH`` raw entries already waiting per handler call (their Redis
        round trips shared), acked once handled (:mod:`processors.batching`)."""
        rt = await runtime.ready()
        assert rt.raw is not None
        async with contextlib.aclosing(ready_batches(stream, MAX_BATCH)) as batches:
            async for batch in batches:
                with metrics.ENTRY_SECONDS.labels("dwell").time():
                    for partition, events in by_partition(batch).items():
                        entries = [(e.message.offset, e.value) for e in events]
                        await handle_batch_reliably("dwell", rt.raw.handle_many, partition, entries)

    @app.agent(topics[URLS_TOPIC], name="enrich")
    async def enrich(stream: faust.StreamT[bytes]) -> None:
        rt = await runtime.ready()
        assert rt.enrich is not None
        async for event in stream.events():
            with metrics.ENTRY_SECONDS.labels("enrich").time():
                await handle_reliably(
                    "enrich", rt.enrich.handle, event.message.partition, event.value
                )

    @app.agent(topics[SESSIONS_TOPIC], name="mindmap")
    async def mindmap(stream: faust.StreamT[bytes]) -> None:
        rt = await runtime.ready()
        assert rt.mindmap is not None
        async for event in stream.events():
            with metrics.ENTRY_SECONDS.labels("mindmap").time():
                await handle_reliably(
                    "mindmap", rt.mindmap.handle, event.message.partition, event.value
                )


def _pages(app: faust.App, runtime: Runtime) -> None:
    """``/metrics``, ``/healthz`` and ``/readyz`` on Faust's web server."""

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.text(generate_latest().decode(), content_type="text/plain")

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        """Readiness (Kubernetes probe): the worker's Redis answers and the log backs its
        offsets, else 503."""
        lost = log_lost_reason(app)
        if lost is not None:
            return web.json({"status": "unavailable", "log": lost}, status=503)
        try:
            rt = await runtime.ready()
            assert rt.redis is not None
            await rt.redis.ping()
        except Exception as exc:
            return web.json({"status": "unavailable", "redis": f"error: {exc}"}, status=503)
        return web.json({"status": "ok", "redis": "ok"})


def _sessions_partitions(assigned: Any) -> list[int]:
    return sorted({tp.partition for tp in assigned if tp.topic == SESSIONS_TOPIC})


def _resend_reports(app: faust.App, runtime: Runtime, interval_s: float) -> None:
    """Send the reports left in the outbox: on assignment, then every ``interval_s``.

    On assignment the reports are sent in a background task, so the rebalance (which
    awaits this signal) is not held up by the mail server.
    """

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        rt = await runtime.ready()
        assert rt.mindmap is not None
        rt.mindmap.resend_in_background(_sessions_partitions(assigned))

    @app.timer(interval=interval_s, name="resend_reports")
    async def resend_reports() -> None:
        rt = await runtime.ready()
        assert rt.mindmap is not None
        for partition in _sessions_partitions(app.consumer.assignment()):
            try:
                await rt.mindmap.resend_due(partition)
            except Exception as exc:  # Redis trouble: the next tick tries again
                log.warning("report_resend_failed", partition=partition, error=repr(exc))
