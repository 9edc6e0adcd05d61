"""Raw topic handler: fold each user's transitions into visits and sessions, announce URLs.

One raw entry holds uploads of several users (coalesced per partition by the
gateway); each user's events are folded in log order with that user's state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Iterator, Mapping, Sequence

import msgspec

from mindhit.logs import get_logger
from processors import metrics
from processors.agents import Enqueue, by_topic, encode_by_topic, enqueue_encoded
from processors.agents.versions import content_versions, version_of
from processors.content import ContentStore, verified_contents
from processors.dwell import FoldResult, UserState, encode_state, fold
from processors.state import StateStore
from schema.derived import DerivedBase, SessionClosed, UrlDiscovered, VisitClosed
from schema.events import ClientEvent, PageContent, text_matches
from schema.log import LogEntryError, decode_raw_entry
from schema.topics import URLS_TOPIC

__all__ = [
    "MAX_BATCH",
    "EntryFold",
    "RawHandler",
    "fold_entry",
]

log = get_logger(__name__)


class EntryFold(msgspec.Struct, kw_only=True):
    """What folding one raw entry gives: new states and everything to send or store."""

    states: dict[str, UserState]
    """Each user's new state (to keep once the derived events are stored)."""
    derived: list[DerivedBase]
    candidates: dict[tuple[str, str], UrlDiscovered | VisitClosed]
    """:func:`~processors.agents.versions.url_versions` of every user, in order (a visited
    URL's version as its visit: made a :func:`~processors.agents.versions.visited_version`
    only if new, which most are not)."""
    texts: dict[str, list[tuple[str, str]]]
    """Page texts sent in full, per user with page contents: ``(content_hash, text)``."""
    held: dict[str, list[str]]
    """Content hashes sent without their text (already known), per user with page contents."""
    results: dict[str, FoldResult]


def fold_entry(
    states: Mapping[str, UserState | bytes | None],
    per_user: Mapping[str, list[ClientEvent]],
    idle_threshold_ms: int,
    stale_before: Mapping[str, int] | None = None,
    owned: Container[str] = (),
) -> EntryFold:
    """Fold each user's events of one entry with their state. Pure: ``states`` is unchanged
    (but the states of the users in ``owned``, handed over: folded in place).

    So a handler whose send fails can fold the same entry again from the same states
    and get the same outputs. ``stale_before`` is each user's
    :func:`processors.dwell.fold` horizon (none when absent).
    """
    out = EntryFold(states={}, derived=[], candidates={}, texts={}, held={}, results={})
    candidates = out.candidates
    for user_id, sent in per_user.items():
        contents = [e for e in sent if type(e) is PageContent]  # exact: no subclasses
        events = sent
        if any(e.text and not text_matches(e) for e in contents):  # rare: a text taken out
            events = verified_contents(sent)
            contents = [e for e in events if isinstance(e, PageContent)]
        state, result = fold(
            states.get(user_id),
            user_id,
            events,
            idle_threshold_ms=idle_threshold_ms,
            stale_before=stale_before.get(user_id, 0) if stale_before else 0,
            in_place=user_id in owned,
        )
        out.states[user_id] = state
        out.results[user_id] = result
        out.derived.extend(result.derived)
        # url_versions(user_id, contents, result.derived), in its order; a visit stands
        # for its version until the store says it is new (most are not).
        found = content_versions(user_id, contents) if contents else {}
        for key, version in found.items():
            if key not in candidates:
                candidates[key] = version
        for visit in result.derived:
            if isinstance(visit, VisitClosed):
                key = (visit.url_hash, "")
                if key not in found and key not in candidates:
                    candidates[key] = visit
        if contents:  # users without any are left out (most: nothing to store for them)
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


MAX_BATCH = 16
"""Raw entries of one partition handled in one call at most (the ``dwell`` agent hands over
up to this many that are ready at once): their Redis work takes three round trips in all."""


class _Decoded(msgspec.Struct):
    """One raw entry of a batch, decoded and grouped by user."""

    offset: int
    per_user: dict[str, list[ClientEvent]]
    stale: dict[str, int] | None
    received_at: int


class _Batch(msgspec.Struct):
    """A call's decoded entries, their folds, derived events by topic and encoded (the
    visits and sessions), every new state's encoding and which of the users' are idle."""

    decoded: list[_Decoded] = []
    folds: list[EntryFold] = []
    groups: list[dict[str, list[DerivedBase]]] = []
    encoded: list[dict[str, bytes]] = []
    saved: dict[str, bytes] = {}
    idle: set[str] = set()

    def keep(
        self, states: Mapping[str, UserState], current: dict[str, UserState | bytes | None]
    ) -> None:
        """Encode ``states`` for the save (and ``current``: what later entries fold from)."""
        for user, state in states.items():
            current[user] = self.saved[user] = encode_state(state)
            (self.idle.add if state.is_idle() else self.idle.discard)(user)

    def runs(
        self,
        states: Mapping[str, UserState],
        pending: Mapping[str, UserState],
        before: Container[str],
        current: dict[str, UserState | bytes | None],
    ) -> dict[str, UserState]:
        """:meth:`keep` an entry's new ``states``, but those of users in the entry ``before``
        too (a run of entries, as in a catch-up): returned, to fold on in place, and kept
        once the run ends (``pending``: the runs so far, kept unless they go on)."""
        self.keep({u: s for u, s in pending.items() if u not in states}, current)
        runs = {u: s for u, s in states.items() if u in before}
        self.keep({u: s for u, s in states.items() if u not in runs}, current)
        current.update(runs)
        return runs


def _entries(
    decoded: Sequence[_Decoded],
    groups: Sequence[dict[str, list[DerivedBase]]],
    encoded: Sequence[dict[str, bytes]],
    announced: Sequence[list[UrlDiscovered]],
) -> list[tuple[str, bytes]]:
    """Every entry's derived entries ``(topic, value)`` in log order: the visits and
    sessions ``encoded`` already, the ``url.discovered`` of the versions ``announced``."""
    values: list[tuple[str, bytes]] = []
    for d, g, pre, new in zip(decoded, groups, encoded, announced, strict=True):
        if new:
            g.setdefault(URLS_TOPIC, []).extend(new)
        for topic, events in g.items():
            value = pre.get(topic)
            if value is None:  # the entry's urls: known only now
                value = encode_by_topic({topic: events}, d.offset, d.received_at)[topic]
            values.append((topic, value))
    return values


class RawHandler:
    """Handles raw entries: decode → fold per user → announce URLs → emit → save state."""

    def __init__(
        self,
        states: StateStore,
        content: ContentStore,
        enqueue: Enqueue,
        *,
        idle_threshold_ms: int = 0,
        state_ttl_ms: int = 0,
    ) -> None:
        self._states = states
        self._content = content
        self._enqueue = enqueue
        self._idle_threshold_ms = idle_threshold_ms
        self._state_ttl_ms = state_ttl_ms
        """How long a user's state outlives their last event (0 = forever): events
        older than that when received, of sessions the state does not know, are late."""

    def forget(self) -> None:
        """Partitions were revoked: drop what is kept of Redis besides the states (the
        URL versions known announced)."""
        self._content.versions.forget()

    async def handle(self, partition: int, value: bytes, offset: int = -1) -> None:
        """Process one raw entry of ``partition`` (at ``offset``): :meth:`handle_many` of one."""
        await self.handle_many(partition, [(offset, value)])

    async def handle_many(self, partition: int, entries: Sequence[tuple[int, bytes]]) -> None:
        """Process raw entries ``(offset, value)`` of ``partition``, in log order.

        Each entry's derived events form their own derived entries (its offset is their
        origin); the Redis work of all of them is shared. Steps, in this order
        (at-least-once, each redelivery a no-op downstream):
        1. decode each entry (an undecodable entry is logged and skipped), right before
        2. its fold: load the users' states (from memory; one round trip for all those
           not in memory) and fold the entry's events per user, in order, each entry
           from the states the entries before it left (duplicates/gaps counted);
        3. store page texts by content hash (and who holds texts sent by hash only);
           find URL versions never announced (one round trip; those seen announced
           before are answered from memory: :mod:`processors.announced`); each is announced by
           the first entry that brings it;
        4. emit every entry's derived events, one entry per topic and input entry, to
           the same partition in log order, and wait until Redis stored them all
           (each entry's visits and sessions are encoded right after its fold, its
           ``url.discovered`` once step 3 has said which versions are new);
        5. mark the announced URL versions (then kept as announced in memory) and
        6. keep the users' new states (memory and Redis), in one round trip — only
           then may the entries be acknowledged. The folds never change the loaded
           states (each decodes its own copy), so when a step fails and the entries
           are retried, they fold from the states as they were and send the same
           derived events again (duplicates downstream, never a loss).
        """
        batch = await self._fold_all(partition, entries)
        if not batch.decoded:
            return
        announced, owners = await self._announce(batch.folds)
        values = _entries(batch.decoded, batch.groups, batch.encoded, announced)
        await enqueue_encoded(self._enqueue, partition, values)
        seen = self._content.versions.token()
        await self._states.save_encoded(
            partition,
            batch.saved,
            batch.idle,
            also=lambda pipe: self._content.queue_mark_versions(pipe, list(owners), owners),
        )
        self._content.versions.remember(owners, seen)
        metrics.URL_VERSIONS.inc(len(owners))
        kinds = Counter(type(d) for f in batch.folds for d in f.derived)
        metrics.VISITS.inc(kinds[VisitClosed])
        metrics.SESSIONS_CLOSED.inc(kinds[SessionClosed])
        metrics.USERS_IN_MEMORY.set(self._states.users_in_memory)

    async def _fold_all(self, partition: int, entries: Sequence[tuple[int, bytes]]) -> _Batch:
        """Steps 1 and 2 (each entry's visits and sessions encoded, and every new state)."""
        # Each entry is decoded right before its fold, its events still in the CPU's cache
        # (decoded all first, a batch's ~3,200 events had left the 2 MB L2 before most were
        # folded). When an entry has users whose state is not in memory, the rest of the
        # batch is decoded at once and all missing states loaded in one round trip.
        waiting, ahead = iter(entries), list[_Decoded]()
        out = _Batch()
        current: dict[str, UserState | bytes | None] = {}
        pending: dict[str, UserState] = {}  # new states of users in a run of entries
        last: Container[str] = ()  # the users of the entry before
        while d := ahead.pop(0) if ahead else self._decode_next(partition, waiting):
            held = self._states.held(partition, [u for u in d.per_user if u not in current])
            if held is None:  # not all in memory: load them with the rest's, in one trip
                ahead.extend(iter(lambda: self._decode_next(partition, waiting), None))
                new = dict.fromkeys(u for e in (d, *ahead) for u in e.per_user if u not in current)
                held = await self._states.load(partition, new)
            current.update(held)
            out.decoded.append(d)
            folded = fold_entry(current, d.per_user, self._idle_threshold_ms, d.stale, pending)
            out.folds.append(folded)
            metrics.EVENTS.inc(sum(len(events) for events in d.per_user.values()))
            _count(folded)
            d.per_user = {}
            g = by_topic(folded.derived)
            out.groups.append(g)
            known = {t: events for t, events in g.items() if t != URLS_TOPIC}
            out.encoded.append(encode_by_topic(known, d.offset, d.received_at))
            # A user in consecutive entries (a catch-up) is folded in place and encoded once
            # the run ends; any other new state is encoded at once and let go, in cache.
            pending = out.runs(folded.states, pending, last, current)
            last, folded.states = set(folded.states), {}
        out.keep(pending, current)
        return out

    def _decode_next(self, partition: int, entries: Iterator[tuple[int, bytes]]) -> _Decoded | None:
        """The next decodable entry of ``entries`` (None: none left)."""
        for offset, value in entries:
            d = self._decode(partition, offset, value)
            if d is not None:
                return d
        return None

    def _decode(self, partition: int, offset: int, value: bytes) -> _Decoded | None:
        """Step 1 for one entry: its events per user and their horizons (None: undecodable)."""
        try:
            entry = decode_raw_entry(value)
        except LogEntryError as exc:
            log.error("raw_entry_undecodable", partition=partition, offset=offset, error=str(exc))
            return None
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
        earliest = min((u.received_at for u in entry.uploads), default=0)
        return _Decoded(offset, per_user, stale, earliest)

    async def _announce(
        self, folds: Sequence[EntryFold]
    ) -> tuple[list[list[UrlDiscovered]], dict[tuple[str, str], str]]:
        """Step 3: store the texts; each entry's URL versions never announced before, and
        who brought each of them in."""
        texts: dict[str, list[tuple[str, str]]] = {}
        held: dict[str, list[str]] = {}
        first: dict[tuple[str, str], tuple[int, UrlDiscovered | VisitClosed]] = {}
        for i, f in enumerate(folds):
            for user, pairs in f.texts.items():
                texts.setdefault(user, []).extend(pairs)
            for user, hashes in f.held.items():
                held.setdefault(user, []).extend(hashes)
            for key, candidate in f.candidates.items():
                first.setdefault(key, (i, candidate))
        fresh = await self._content.take_entry(texts, held, list(first))
        filled = await self._with_known_texts([version_of(first[key][1]) for key in fresh])
        announced: list[list[UrlDiscovered]] = [[] for _ in folds]
        for key, candidate in zip(fresh, filled, strict=True):
            announced[first[key][0]].append(candidate)
        return announced, {key: first[key][1].user_id for key in fresh}

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
