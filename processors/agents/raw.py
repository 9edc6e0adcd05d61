"""Raw topic handler: fold each user's transitions into visits and sessions, announce URLs.

One raw entry holds uploads of several users (coalesced per partition by the
gateway); each user's events are folded in log order with that user's state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from mindhit.logs import get_logger
from processors import metrics
from processors.agents import Emit, emit_derived
from processors.content import ContentStore, verified_contents
from processors.dwell import FoldResult, UserState, fold
from processors.state import StateStore
from processors.urls import domain_of, normalize_url, url_hash
from schema.derived import DerivedBase, UrlDiscovered, VisitClosed
from schema.events import ClientEvent, PageContent
from schema.log import LogEntryError, decode_raw_entry

__all__ = ["EntryFold", "RawHandler", "fold_entry", "url_versions"]

log = get_logger(__name__)


def url_versions(
    user_id: str, events: Sequence[ClientEvent], derived: list[DerivedBase]
) -> dict[tuple[str, str], UrlDiscovered]:
    """Candidate ``url.discovered`` events of one user's batch, keyed by URL version.

    Page contents give versions (their text may be empty when the client or the
    gateway left out text already known by hash: the handler fills it in from the
    content store); a visited URL whose content never arrived gives a text-less
    version (``content_hash == ""``) so the URL still gets a row downstream. Pure:
    which candidates are new is decided by the store.
    """
    found: dict[tuple[str, str], UrlDiscovered] = {}
    for event in events:
        if isinstance(event, PageContent):
            normalized = normalize_url(event.url)
            key = (url_hash(normalized), event.content_hash)
            if key not in found:
                found[key] = UrlDiscovered(
                    user_id=user_id,
                    url_hash=key[0],
                    url=normalized,
                    domain=domain_of(normalized),
                    title=event.title,
                    first_seen_ts=event.ts,
                    content_hash=event.content_hash,
                    lang=event.lang,
                    text=event.text,
                )
    for visit in derived:
        if isinstance(visit, VisitClosed):
            key = (visit.url_hash, "")
            if key not in found:
                found[key] = UrlDiscovered(
                    user_id=user_id,
                    url_hash=visit.url_hash,
                    url=visit.url,
                    domain=visit.domain,
                    title=visit.title,
                    first_seen_ts=visit.start_ts,
                )
    return found


class EntryFold(msgspec.Struct, kw_only=True):
    """What folding one raw entry gives: new states and everything to send or store."""

    states: dict[str, UserState]
    """Each user's new state (to keep once the derived events are stored)."""
    derived: list[DerivedBase]
    candidates: dict[tuple[str, str], UrlDiscovered]
    texts: dict[str, list[tuple[str, str]]]
    """Page texts sent in full, per user: ``(content_hash, text)``."""
    held: dict[str, list[str]]
    """Content hashes sent without their text (already known), per user."""
    results: dict[str, FoldResult]


def fold_entry(
    states: Mapping[str, UserState | bytes | None],
    per_user: Mapping[str, list[ClientEvent]],
    idle_threshold_ms: int,
    stale_before: Mapping[str, int] | None = None,
) -> EntryFold:
    """Fold each user's events of one entry with their state. Pure: ``states`` is unchanged.

    So a handler whose send fails can fold the same entry again from the same states
    and get the same outputs. ``stale_before`` is each user's
    :func:`processors.dwell.fold` horizon (none when absent).
    """
    out = EntryFold(states={}, derived=[], candidates={}, texts={}, held={}, results={})
    candidates = out.candidates
    for user_id, sent in per_user.items():
        contents = [e for e in sent if isinstance(e, PageContent)]
        events = verified_contents(sent) if contents else sent
        if events is not sent:  # a text taken out: its event changed
            contents = [e for e in events if isinstance(e, PageContent)]
        state, result = fold(
            states.get(user_id),
            user_id,
            events,
            idle_threshold_ms=idle_threshold_ms,
            stale_before=stale_before.get(user_id, 0) if stale_before else 0,
        )
        out.states[user_id] = state
        out.results[user_id] = result
        out.derived.extend(result.derived)
        for key, candidate in url_versions(user_id, contents, result.derived).items():
            if key not in candidates:
                candidates[key] = candidate
        out.texts[user_id] = [(e.content_hash, e.text) for e in contents if e.text]
        out.held[user_id] = [e.content_hash for e in contents if e.content_hash and not e.text]
    return out


def _count(folded: EntryFold) -> None:
    """Metrics and log lines of one folded entry."""
    for user_id, result in folded.results.items():
        if result.duplicates:
            metrics.DUPLICATE_EVENTS.inc(result.duplicates)
        if result.late:
            metrics.LATE_EVENTS.inc(result.late)
        for gap in result.gaps:
            metrics.SEQ_GAPS.inc(gap.got - gap.expected)
            log.warning(
                "seq_gap",
                user_id=user_id,
                client_id=gap.client_id,
                expected=gap.expected,
                got=gap.got,
            )


class RawHandler:
    """Handles one raw entry: decode → fold per user → announce URLs → emit → save state."""

    def __init__(
        self,
        states: StateStore,
        content: ContentStore,
        emit: Emit,
        *,
        idle_threshold_ms: int = 0,
        state_ttl_ms: int = 0,
    ) -> None:
        self._states = states
        self._content = content
        self._emit = emit
        self._idle_threshold_ms = idle_threshold_ms
        self._state_ttl_ms = state_ttl_ms
        """How long a user's state outlives their last event (0 = forever): events
        older than that when received, of sessions the state does not know, are late."""

    async def handle(self, partition: int, value: bytes, offset: int = -1) -> None:
        """Process one raw entry of ``partition`` (at ``offset``, the derived entries' origin).

        Steps, in this order (at-least-once, each redelivery a no-op downstream):
        1. decode the entry (an undecodable entry is logged and skipped);
        2. fold each user's events with their state (duplicates/gaps counted);
        3. store page texts by content hash (and who holds texts sent by hash only);
           find URL versions never announced (one round trip);
        4. emit the derived events, one entry per topic, to the same partition,
           and wait until Redis stored them;
        5. mark the announced URL versions and
        6. keep the users' new states (memory and Redis), in one round trip — only
           then may the message be acknowledged. The fold never changes the loaded
           states (it decodes its own copy), so when a step fails and the entry is
           retried, it folds from the states as they were and sends the same derived
           events again (duplicates downstream, never a loss).
        """
        try:
            entry = decode_raw_entry(value)
        except LogEntryError as exc:
            log.error("raw_entry_undecodable", partition=partition, error=str(exc))
            return
        per_user: dict[str, list[ClientEvent]] = {}
        received: dict[str, int] = {}
        for upload in entry.uploads:
            per_user.setdefault(upload.user_id, []).extend(upload.events)
            first = received.get(upload.user_id, upload.received_at)
            received[upload.user_id] = min(first, upload.received_at)
        stale = (
            {user: at - self._state_ttl_ms for user, at in received.items()}
            if self._state_ttl_ms > 0
            else None
        )
        folded = fold_entry(
            await self._states.load(partition, per_user),
            per_user,
            self._idle_threshold_ms,
            stale,
        )
        metrics.EVENTS.inc(sum(len(events) for events in per_user.values()))
        _count(folded)
        derived, candidates = folded.derived, folded.candidates
        fresh = await self._content.take_entry(folded.texts, folded.held, list(candidates))
        announced = await self._with_known_texts([candidates[key] for key in fresh])
        await emit_derived(
            self._emit,
            partition,
            [*derived, *announced],
            origin=offset,
            received_at=min((u.received_at for u in entry.uploads), default=0),
        )
        owners = {key: candidates[key].user_id for key in fresh}
        await self._states.save(
            partition,
            folded.states,
            also=lambda pipe: self._content.queue_mark_versions(pipe, fresh, owners),
        )
        metrics.URL_VERSIONS.inc(len(announced))
        metrics.VISITS.inc(sum(isinstance(d, VisitClosed) for d in derived))
        metrics.SESSIONS_CLOSED.inc(
            sum(d.__struct_config__.tag == "session.closed" for d in derived)
        )
        metrics.USERS_IN_MEMORY.set(self._states.users_in_memory)

    async def _with_known_texts(self, announced: list[UrlDiscovered]) -> list[UrlDiscovered]:
        """Fill in the text of announced versions whose event came without it (known hash)."""
        missing = [a.content_hash for a in announced if a.content_hash and not a.text]
        if not missing:
            return announced
        texts = await self._content.get_texts(missing)
        return [
            msgspec.structs.replace(a, text=texts[a.content_hash])
            if a.content_hash in texts and not a.text
            else a
            for a in announced
        ]
