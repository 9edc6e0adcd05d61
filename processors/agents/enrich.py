"""URL topic handler: enrich each new URL version once (summary, tags, topic).

``url.discovered`` is announced once per ``(url_hash, content_hash)`` across all
users, and the enrichment is cached under that pair, so re-visits, other devices
and other users' later visits never call the AI again for the same content.

Because everyone who reads that version is shown this enrichment, it is computed from
what is provably the same for all of them: the normalized URL (its hash is the key)
and the text (the gateway verified its SHA-256, the key's other half). The title and
language the first reader's client sent are theirs alone and are not used (a title
can hold a name or an address, and would reach other readers through the summary);
only a well-formed language tag passes, as a hint.
"""

from __future__ import annotations

import os
import re

from mindhit.clock import Clock
from mindhit.logs import get_logger
from processors import metrics
from processors.agents import Emit, emit_derived
from processors.agents.deadletter import dead_letter
from processors.ai.base import AIError, AIProvider, PageInput
from processors.content import CachedEnrichment, ContentStore
from schema.derived import DerivedBase, UrlDiscovered, UrlEnriched
from schema.log import LogEntryError, decode_derived_entry
from schema.topics import URLS_TOPIC

__all__ = ["EnrichHandler", "shared_input"]

log = get_logger(__name__)

_LANG_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}")


def shared_input(item: UrlDiscovered) -> PageInput:
    """The provider's input for a URL version shared by every reader: URL and text only."""
    lang = item.lang if _LANG_TAG.fullmatch(item.lang) else ""
    return PageInput(url=item.url, title="", text=item.text, lang=lang)


class EnrichHandler:
    """Handles one ``urls`` entry: enrich the URL versions it announces."""

    def __init__(
        self, content: ContentStore, provider: AIProvider, emit: Emit, clock: Clock
    ) -> None:
        self._content = content
        self._provider = provider
        self._emit = emit
        self._clock = clock
        self._owner = f"{os.getpid()}"

    async def handle(self, partition: int, value: bytes, offset: int = -1) -> None:
        """Process one ``urls`` entry of ``partition`` (its ``origin`` passes on).

        Steps: 1. decode and keep the ``url.discovered`` events that carry text;
        2. per version: reuse the cached enrichment, or take the version's lock,
        call the provider, cache the answer; a provider failure becomes a
        dead letter; 3. emit the ``url.enriched`` events and dead letters, and
        wait until stored — then the message may be acknowledged.
        """
        try:
            entry = decode_derived_entry(value)
        except LogEntryError as exc:
            log.error("urls_entry_undecodable", partition=partition, error=str(exc))
            return
        work = [
            e for e in entry.events if isinstance(e, UrlDiscovered) and e.content_hash and e.text
        ]
        if not work:
            return
        cached = await self._content.get_enrichments([(w.url_hash, w.content_hash) for w in work])
        out: list[DerivedBase] = []
        for item in work:
            version = (item.url_hash, item.content_hash)
            found = cached.get(version)
            if found is None:
                try:
                    found = await self._enrich(item)
                except AIError as exc:
                    metrics.AI_CALLS.labels("enrich", "failed").inc()
                    metrics.DEAD_LETTERS.labels("enrich").inc()
                    log.warning("enrich_failed", url=item.url, error=exc.reason)
                    out.append(
                        dead_letter(
                            item,
                            kind="enrich",
                            key=f"{item.url_hash}:{item.content_hash}",
                            error=exc.reason,
                            source_topic=URLS_TOPIC,
                            partition=partition,
                            now_ms=self._clock(),
                            source=entry,
                        )
                    )
                    continue
                if found is None:
                    continue  # another worker holds the lock and will emit it
                cached[version] = found
            out.append(
                UrlEnriched(
                    user_id=item.user_id,
                    url_hash=item.url_hash,
                    content_hash=item.content_hash,
                    summary=found.summary,
                    tags=list(found.tags),
                    topic=found.topic,
                    provider=found.provider,
                    enriched_ts=found.enriched_ts,
                )
            )
        await emit_derived(
            self._emit, partition, out, origin=entry.origin, received_at=entry.received_at
        )

    async def _enrich(self, item: UrlDiscovered) -> CachedEnrichment | None:
        if not await self._content.lock_enrichment(item.url_hash, item.content_hash, self._owner):
            return None
        try:
            try:
                answer = await self._provider.enrich(shared_input(item))
            except AIError:
                raise
            except Exception as exc:  # a provider bug must not stop the pipeline
                raise AIError(f"{type(exc).__name__}: {exc}") from exc
            metrics.AI_CALLS.labels("enrich", "ok").inc()
            result = CachedEnrichment(
                summary=answer.summary,
                tags=list(answer.tags),
                topic=answer.topic,
                provider=self._provider.name,
                enriched_ts=self._clock(),
            )
            await self._content.put_enrichment(item.url_hash, item.content_hash, result)
            return result
        finally:
            await self._content.unlock_enrichment(item.url_hash, item.content_hash)
