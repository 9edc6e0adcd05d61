"""Sessions topic handler: build the mind map of every closed session (and honour erasures).

``session.closed`` (emitted by the dwell fold after the last visit closed) moves
the session to ``processing``; the provider builds the map from the session's
pages (dwell from the event, text from the content store, enrichments from the
cache); ``mindmap.built`` and ``completed`` follow, or ``failed`` with the reason
and a dead letter that ``mindhit dlq retry`` can replay.

When a remote provider fails (after its retries) or answers malformed output, the
offline local provider builds the map instead: the map is emitted with
``provider="local"`` and its root's ``fallback_from`` naming the provider that
failed, the session completes, and the failure is still dead-lettered. Such a map is
not marked done, so ``mindhit dlq retry`` (or a redelivery) asks the configured
provider again and its map replaces the fallback one.

Session reports (``on_built``) go through the report outbox
(:mod:`processors.report.outbox`): the report owed is recorded before the map is
marked done and removed once the report is finished, so a worker dying in between
or an SMTP outage delays the report instead of losing it. :meth:`MindmapHandler.resend_due`
sends what is left; the app calls it when it is assigned partitions and on a timer.
Delivery of reports is at least once (a crash after the mail went out but before
its record was removed sends it again).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Literal, NamedTuple

import msgspec

from mindhit.clock import Clock
from mindhit.logs import get_logger
from processors import metrics
from processors.agents import Emit, emit_derived
from processors.agents.deadletter import dead_letter
from processors.ai.base import AIError, AIProvider
from processors.content import ContentStore
from processors.report.outbox import OutboxRecord, ReportOutbox
from processors.sessions import foreign_session, mindmap_pages, status_event
from schema.derived import MindmapBuilt, MindmapNode, SessionClosed, SessionErased, UserErased
from schema.log import DerivedEntry, LogEntryError, decode_derived_entry
from schema.topics import SESSIONS_TOPIC

__all__ = ["MindmapHandler", "OnBuilt", "OnErased", "Reports"]

log = get_logger(__name__)

OnBuilt = Callable[[SessionClosed, MindmapBuilt], Awaitable[bool]]
"""Called after a map was stored (to email the session report); should not raise.

Returns True when it is finished with the map (report sent, or not wanted: the user
opted out or has no address) and False when it failed and wants it again later;
an exception counts as False.
"""

OnErased = Callable[[int, str], Awaitable[None]]
"""Called with ``(partition, user_id)`` for ``user.erased``: drop the user's fold state."""


class Reports(NamedTuple):
    """Session reports on: the callback that mails one, and the outbox that keeps it owed."""

    on_built: OnBuilt
    outbox: ReportOutbox


class MindmapHandler:
    """Handles one ``sessions`` entry: a mind map per ``session.closed`` in it.

    With ``reports`` (reports on) the outbox keeps every report owed until
    ``on_built`` says it is finished.
    """

    def __init__(
        self,
        content: ContentStore,
        provider: AIProvider,
        emit: Emit,
        clock: Clock,
        reports: Reports | None = None,
        on_erased: OnErased | None = None,
        *,
        fallback: AIProvider | Literal["local"] | None = "local",
    ) -> None:
        """Wire the handler; ``fallback`` builds the map when ``provider`` fails.

        ``"local"`` (default) = the offline local provider whenever ``provider`` is a
        remote one; ``None`` = no fallback (a failure fails the session).
        """
        if fallback == "local":
            from processors.ai.local import LocalProvider

            fallback = LocalProvider() if provider.name != "local" else None
        self._fallback: AIProvider | None = fallback
        self._content = content
        self._provider = provider
        self._emit = emit
        self._clock = clock
        self._on_built = reports.on_built if reports is not None else None
        self._on_erased = on_erased
        self._outbox = reports.outbox if reports is not None else None
        self._background: set[asyncio.Task[None]] = set()
        self._sending: set[str] = set()
        """Sessions whose report this worker is sending now (never two sends at once)."""

    async def handle(self, partition: int, value: bytes, offset: int = -1) -> None:
        """Process one ``sessions`` entry of ``partition`` (its origin and time pass on).

        Steps per ``session.closed``: 1. skip it if its map was already emitted
        (redelivery); 2. emit ``processing`` and wait; 3. gather pages, texts and
        enrichments; 4. build the map; 5. emit ``mindmap.built`` + ``completed``
        (or ``failed`` + dead letter) and wait; 6. with reports on, record the
        report owed in the outbox; 7. mark the map done; 8. hand the map to
        ``on_built`` (report email) in a background task, so a slow or failing mail
        server never holds up the next session; the task removes the outbox record
        once the report is finished, or schedules its retry.
        """
        try:
            entry = decode_derived_entry(value)
        except LogEntryError as exc:
            log.error("sessions_entry_undecodable", partition=partition, error=str(exc))
            return
        for event in entry.events:
            if isinstance(event, SessionClosed):
                await self._closed(partition, event, entry)
            elif isinstance(event, UserErased) and self._on_erased is not None:
                await self._on_erased(partition, event.user_id)
                log.info("user_state_erased", user_id=event.user_id)
            elif isinstance(event, SessionErased) and event.content_hashes:
                gone = await self._content.release_texts(event.user_id, event.content_hashes)
                log.info("session_texts_released", session_id=event.session_id, deleted=gone)

    async def _closed(self, partition: int, closed: SessionClosed, source: DerivedEntry) -> None:
        """Build the map of ``closed`` unless its session is someone else's (then nothing:
        no map, no status; the session is not theirs to change)."""
        if foreign_session(closed, await self._content.session_owner(closed.session_id)):
            log.warning("foreign_session_skipped", session_id=closed.session_id)
            return
        await self._one(partition, closed, source)

    async def _one(self, partition: int, closed: SessionClosed, source: DerivedEntry) -> None:
        if await self._content.mindmap_done(closed.user_id, closed.session_id):
            return
        await emit_derived(
            self._emit,
            partition,
            [status_event(closed, "processing", self._clock())],
            origin=source.origin,
            received_at=source.received_at,
        )
        try:
            root, failure = await self._build(closed)
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
                    _letter(closed, exc.reason, partition, now, source),
                ],
                origin=source.origin,
                received_at=source.received_at,
            )
            return
        now = self._clock()
        built = MindmapBuilt(
            user_id=closed.user_id,
            session_id=closed.session_id,
            root=root,
            provider=self._provider.name if failure is None else _fallback_name(self._fallback),
            built_ts=now,
        )
        events: list[Any] = [built, status_event(closed, "completed", now)]
        if failure is not None:
            metrics.DEAD_LETTERS.labels("mindmap").inc()
            log.warning("mindmap_fallback", session_id=closed.session_id, error=failure.reason)
            events.append(_letter(closed, failure.reason, partition, now, source))
        await emit_derived(
            self._emit,
            partition,
            events,
            origin=source.origin,
            received_at=source.received_at,
        )
        await self._built(partition, closed, built, done=failure is None)

    async def _built(
        self, partition: int, closed: SessionClosed, built: MindmapBuilt, *, done: bool
    ) -> None:
        """The map is stored: record the report owed, mark the map done, start the report.

        ``done`` is False for a fallback map, which stays open to a retry.
        """
        now = built.built_ts
        if self._outbox is None:
            if done:
                await self._content.mark_mindmap_done(closed.user_id, closed.session_id)
            metrics.MINDMAPS.labels("built").inc()
            return
        sid = closed.session_id
        # Claimed before the record exists, so a recovery pass cannot send it meanwhile;
        # if one is sending an older record of this session, that send finishes it.
        claimed = sid not in self._sending
        self._sending.add(sid)
        try:
            await self._outbox.put(partition, closed, built, now)
            if done:
                await self._content.mark_mindmap_done(closed.user_id, sid)
        except BaseException:
            if claimed:
                self._sending.discard(sid)
            raise
        metrics.MINDMAPS.labels("built").inc()
        if claimed:
            record = OutboxRecord(closed=closed, built=built, due_ms=now)
            self._spawn(self._report(partition, record))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _report(self, partition: int, record: OutboxRecord) -> None:
        """Send one report this worker claimed, then release the claim."""
        try:
            await self._send(partition, record)
        finally:
            self._sending.discard(record.closed.session_id)

    async def _send(self, partition: int, record: OutboxRecord) -> bool:
        """Call ``on_built``; remove the record if finished, else count the failure.

        Returns whether the report is finished. Redis errors are logged, not raised:
        the record then stays in the outbox and a later pass deals with it.
        """
        assert self._on_built is not None and self._outbox is not None
        sid = record.closed.session_id
        try:
            done = await self._on_built(record.closed, record.built)
        except Exception as exc:  # the report never blocks or breaks the pipeline
            log.warning("on_built_failed", session_id=sid, error=str(exc))
            done = False
        try:
            if done:
                await self._outbox.remove(partition, sid)
            else:
                await self._outbox.failed(partition, record, self._clock())
        except Exception as exc:
            log.warning("report_outbox_update_failed", session_id=sid, error=repr(exc))
        return done

    async def resend_due(self, partition: int) -> int:
        """(Re)send the reports of ``partition`` whose time has come; return how many finished.

        Steps per due record: 1. skip it if this worker is sending it already, else
        claim it; 2. read it again (a send that finished meanwhile removed it, a failure
        rescheduled it); 3. call ``on_built``; 4. remove it when finished, else count
        the failure (next retry time, or abandon); 5. release the claim.

        Delivery is at least once: a crash between 3 and 4 sends the report again.
        Redis errors reading the outbox are raised to the caller.
        """
        if self._outbox is None:
            return 0
        finished = 0
        for due in await self._outbox.due(partition, self._clock()):
            sid = due.closed.session_id
            if sid in self._sending:
                continue
            self._sending.add(sid)
            try:
                record = await self._outbox.get(partition, sid)
                if (
                    record is not None
                    and record.due_ms <= self._clock()
                    and await self._send(partition, record)
                ):
                    finished += 1
            finally:
                self._sending.discard(sid)
        return finished

    def resend_in_background(self, partitions: Iterable[int]) -> None:
        """Run :meth:`resend_due` over ``partitions`` in a background task (on assignment)."""
        if self._outbox is not None:
            self._spawn(self._resend_all(sorted(set(partitions))))

    async def _resend_all(self, partitions: list[int]) -> None:
        finished = 0
        for partition in partitions:
            try:
                finished += await self.resend_due(partition)
            except Exception as exc:  # Redis trouble: the timer tries again
                log.warning("report_resend_failed", partition=partition, error=repr(exc))
        log.info("reports_resent", partitions=len(partitions), finished=finished)

    async def drain(self) -> None:
        """Wait for background reports still running (at shutdown, and in tests)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def _build(self, closed: SessionClosed) -> tuple[MindmapNode, AIError | None]:
        """The session's map, and the provider's failure when the fallback built it."""
        versions = [(p.url_hash, p.content_hash) for p in closed.pages]
        texts = await self._content.get_texts([p.content_hash for p in closed.pages])
        enrichments = await self._content.get_enrichments(versions)
        pages = mindmap_pages(closed, texts, enrichments)
        if not pages:
            empty = MindmapNode(label="No pages visited", why="The session recorded no page views.")
            return empty, None
        try:
            return await _call(self._provider, pages), None
        except AIError as exc:
            if self._fallback is None:
                raise
            root = await _call(self._fallback, pages)
            return msgspec.structs.replace(root, fallback_from=self._provider.name), exc


def _letter(
    closed: SessionClosed, error: str, partition: int, now: int, source: DerivedEntry
) -> Any:
    return dead_letter(
        closed,
        kind="mindmap",
        key=closed.session_id,
        error=error,
        source_topic=SESSIONS_TOPIC,
        partition=partition,
        now_ms=now,
        source=source,
    )


def _fallback_name(provider: AIProvider | None) -> str:
    return provider.name if provider is not None else "local"


async def _call(provider: AIProvider, pages: list[Any]) -> MindmapNode:
    try:
        root = await provider.build_mindmap(pages)
    except AIError:
        metrics.AI_CALLS.labels("mindmap", "failed").inc()
        raise
    except Exception as exc:  # a provider bug fails the session, never the worker
        metrics.AI_CALLS.labels("mindmap", "failed").inc()
        raise AIError(f"{type(exc).__name__}: {exc}") from exc
    metrics.AI_CALLS.labels("mindmap", "ok").inc()
    return root
