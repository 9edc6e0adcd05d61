"""Sessions topic handler: build the mind map of every closed session (and honour erasures).

``session.closed`` (emitted by the dwell fold after the last visit closed) moves
the session to ``processing``; the provider builds the map from the session's
pages (dwell from the event, text from the content store, enrichments from the
cache); ``mindmap.built`` and ``completed`` follow, or ``failed`` with the reason
and a dead letter that ``mindhit dlq retry`` can replay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from mindhit.logs import get_logger
from processors import metrics
from processors.agents import Clock, Emit, emit_derived
from processors.agents.deadletter import dead_letter
from processors.ai.base import AIError, AIProvider
from processors.content import ContentStore
from processors.sessions import mindmap_pages, status_event
from schema.derived import MindmapBuilt, MindmapNode, SessionClosed, UserErased
from schema.log import LogEntryError, decode_derived_entry
from schema.topics import SESSIONS_TOPIC

__all__ = ["MindmapHandler", "OnBuilt", "OnErased"]

log = get_logger(__name__)

OnBuilt = Callable[[SessionClosed, MindmapBuilt], Awaitable[None]]
"""Called after a map was stored (e.g. to email the session report); must not raise."""

OnErased = Callable[[int, str], Awaitable[None]]
"""Called with ``(partition, user_id)`` for ``user.erased``: drop the user's fold state."""


class MindmapHandler:
    """Handles one ``sessions`` entry: a mind map per ``session.closed`` in it."""

    def __init__(
        self,
        content: ContentStore,
        provider: AIProvider,
        emit: Emit,
        clock: Clock,
        on_built: OnBuilt | None = None,
        on_erased: OnErased | None = None,
    ) -> None:
        self._content = content
        self._provider = provider
        self._emit = emit
        self._clock = clock
        self._on_built = on_built
        self._on_erased = on_erased
        self._background: set[asyncio.Task[None]] = set()

    async def handle(self, partition: int, value: bytes, offset: int = -1) -> None:
        """Process one ``sessions`` entry of ``partition`` (its ``origin`` passes on).

        Steps per ``session.closed``: 1. skip it if its map was already emitted
        (redelivery); 2. emit ``processing`` and wait; 3. gather pages, texts and
        enrichments; 4. build the map; 5. emit ``mindmap.built`` + ``completed``
        (or ``failed`` + dead letter) and wait; 6. mark the map done;
        7. hand the map to ``on_built`` (report email) in a background task, so a
        slow or failing mail server never holds up the next session.
        """
        try:
            entry = decode_derived_entry(value)
        except LogEntryError as exc:
            log.error("sessions_entry_undecodable", partition=partition, error=str(exc))
            return
        for event in entry.events:
            if isinstance(event, SessionClosed):
                await self._one(partition, event, entry.origin)
            elif isinstance(event, UserErased) and self._on_erased is not None:
                await self._on_erased(partition, event.user_id)
                log.info("user_state_erased", user_id=event.user_id)

    async def _one(self, partition: int, closed: SessionClosed, origin: int) -> None:
        if await self._content.mindmap_done(closed.session_id):
            return
        await emit_derived(
            self._emit,
            partition,
            [status_event(closed, "processing", self._clock())],
            origin=origin,
        )
        try:
            root = await self._build(closed)
        except AIError as exc:
            metrics.MINDMAPS.labels("failed").inc()
            metrics.DEAD_LETTERS.labels("mindmap").inc()
            log.warning("mindmap_failed", session_id=closed.session_id, error=exc.reason)
            now = self._clock()
            await emit_derived(
                self._emit,
                partition,
                [
                    status_event(closed, "failed", now, exc.reason),
                    dead_letter(
                        closed,
                        kind="mindmap",
                        key=closed.session_id,
                        error=exc.reason,
                        source_topic=SESSIONS_TOPIC,
                        partition=partition,
                        now_ms=now,
                        origin=origin,
                    ),
                ],
                origin=origin,
            )
            return
        now = self._clock()
        built = MindmapBuilt(
            user_id=closed.user_id,
            session_id=closed.session_id,
            root=root,
            provider=self._provider.name,
            built_ts=now,
        )
        await emit_derived(
            self._emit, partition, [built, status_event(closed, "completed", now)], origin=origin
        )
        await self._content.mark_mindmap_done(closed.session_id)
        metrics.MINDMAPS.labels("built").inc()
        if self._on_built is not None:
            task = asyncio.create_task(self._report(closed, built))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _report(self, closed: SessionClosed, built: MindmapBuilt) -> None:
        assert self._on_built is not None
        try:
            await self._on_built(closed, built)
        except Exception as exc:  # the report never blocks or breaks the pipeline
            log.warning("on_built_failed", session_id=closed.session_id, error=str(exc))

    async def drain(self) -> None:
        """Wait for background reports still running (at shutdown, and in tests)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def _build(self, closed: SessionClosed) -> MindmapNode:
        versions = [(p.url_hash, p.content_hash) for p in closed.pages]
        texts = await self._content.get_texts([p.content_hash for p in closed.pages])
        enrichments = await self._content.get_enrichments(versions)
        pages = mindmap_pages(closed, texts, enrichments)
        if not pages:
            return MindmapNode(label="No pages visited", why="The session recorded no page views.")
        try:
            root = await self._provider.build_mindmap(pages)
        except AIError:
            metrics.AI_CALLS.labels("mindmap", "failed").inc()
            raise
        except Exception as exc:  # a provider bug fails the session, never the worker
            metrics.AI_CALLS.labels("mindmap", "failed").inc()
            raise AIError(f"{type(exc).__name__}: {exc}") from exc
        metrics.AI_CALLS.labels("mindmap", "ok").inc()
        return root
