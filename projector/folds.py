"""The folds: log entries in, merged row operations out. Pure, no I/O.

A :class:`Batch` collects the operations of every entry read in one loop turn,
merging operations on the same key as they arrive (see :mod:`projector.rows`).
Events of erased users are dropped here when the gateway received them up to the
erasure (server time: ``Upload.received_at``, and for derived events the
``received_at`` of the raw entry they come from; the times a client put in its
events never count, so a client clock running ahead cannot keep anything past an
erasure). The account may live on and record again: what is received after the
erasure is projected. An erasure in the middle of a batch drops every operation of
that user pending in the batch. Derived entries written before they carried
``received_at`` fall back to their events' times.

Events whose identifiers are not UUIDs cannot be stored and are counted as
``rejected`` instead of stopping the projection (a poison event must not wedge
the loop).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sized
from typing import Any, TypeVar

import msgspec

from mindhit.storable_visit import storable_visit
from mindhit.visit_rows import StagedVisit
from projector.rows import (
    EraseSession,
    EraseUser,
    MindmapRow,
    PageTextRow,
    SessionPatch,
    UrlPatch,
    merge_mindmap,
    merge_session,
    merge_url,
    session_time,
)
from projector.visit_columns import fold_columns, visit_session_is
from projector.visit_rows_fold import explode_rows, fold_rows
from schema.derived import (
    MindmapBuilt,
    SessionClosed,
    SessionErased,
    SessionStatusChanged,
    UrlDiscovered,
    UrlEnriched,
    UserErased,
    VisitClosed,
    VisitRows,
    VisitsClosed,
)
from schema.events import SessionStarted, SessionStopped
from schema.ids import UUID_TEXT
from schema.log import DerivedEntry, RawEntry

__all__ = ["Batch", "is_uuid", "without_erased"]

K = TypeVar("K")
V = TypeVar("V")

_json = msgspec.json.Encoder()


_UUID = UUID_TEXT


def is_uuid(value: str) -> bool:
    """Whether ``value`` is a UUID in the canonical 8-4-4-4-12 form (PostgreSQL accepts it)."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def without_erased(entry: RawEntry, erased: Mapping[str, int]) -> RawEntry:
    """``entry`` without the uploads of erased users received up to their erasure."""
    if not erased or not any(u.user_id in erased for u in entry.uploads):
        return entry
    return RawEntry(uploads=[u for u in entry.uploads if u.received_at > erased.get(u.user_id, -1)])


def _put(store: dict[K, V], key: K, value: V, merge: Callable[[V, V], V]) -> None:
    old = store.get(key)
    store[key] = value if old is None else merge(old, value)


def _start_or_stop(event: SessionStarted | SessionStopped, user_id: str) -> SessionPatch:
    """The patch a session's start (``recording``) or stop (``processing``) makes."""
    patch = SessionPatch(session_id=event.session_id, user_id=user_id)
    if isinstance(event, SessionStarted):
        patch.client_id = event.client_id
        patch.label = event.label
        patch.status, patch.status_at, patch.status_reason = "recording", event.ts, ""
    else:
        patch.stopped_at = event.ts
        patch.status, patch.status_at, patch.status_reason = "processing", event.ts, ""
    return patch


class Batch:
    """Row operations accumulated from a run of log entries, merged per key."""

    def __init__(self, erased: Mapping[str, int] | None = None, erased_seq: int = 0) -> None:
        self.erased: dict[str, int] = dict(erased or {})
        # The last erasure (projector.pg.erased_after) ``erased`` holds: the batch's
        # commit reads only the ones after it.
        self.erased_seq = erased_seq
        # Keyed by (user id, id) where the id comes from a client: another user's events
        # with the same session or visit id never merge into this user's rows.
        self.sessions: dict[tuple[str, str], SessionPatch] = {}
        self.urls: dict[tuple[str, str], UrlPatch] = {}
        self.texts: dict[str, PageTextRow] = {}
        # A visit is its event, or its staging row when it came as columns (visit_columns);
        # an entry of COPY rows is held whole under a key of its own (visit_rows_fold).
        self.visits: dict[tuple[str, str], VisitClosed | StagedVisit | VisitRows] = {}
        self.mindmaps: dict[tuple[str, str], MindmapRow] = {}
        self.erasures: dict[str, EraseUser] = {}
        self.session_erasures: dict[tuple[str, str], EraseSession] = {}
        self.events = 0
        self.rejected = 0
        self.superseded = 0
        self.row_entries = 0  # entries of rows held whole (visit_rows_fold; may overcount)
        self._uuids: set[str] = set()

    def __len__(self) -> int:
        stores: tuple[Sized, ...] = (self.sessions, self.urls, self.texts, self.visits)
        return sum(map(len, (*stores, self.mindmaps, self.erasures, self.session_erasures)))

    # ----------------------------------------------------------------- raw topic
    def add_raw(self, entry: RawEntry) -> None:
        """Fold one raw-topic entry: sessions come to life and stay current.

        Plain events only move a session's first/last event time, so they are
        reduced per session per upload before any patch is built (hot path).
        """
        sessions = self.sessions
        for upload in entry.uploads:
            user_id = upload.user_id
            if not is_uuid(user_id):
                self.rejected += 1
                continue
            self.events += len(upload.events)
            if upload.received_at <= self.erased.get(user_id, -1):
                continue  # received before the user's erasure
            spans: dict[str, list[int]] = {}
            for event in upload.events:
                ts = event.ts
                span = spans.get(event.session_id)
                if span is None:
                    spans[event.session_id] = [ts, ts]
                elif ts < span[0]:
                    span[0] = ts
                elif ts > span[1]:
                    span[1] = ts
                if isinstance(event, (SessionStarted, SessionStopped)):
                    patch = _start_or_stop(event, user_id)
                    _put(sessions, (user_id, event.session_id), patch, merge_session)
            for session_id, (first, last) in spans.items():
                patch = SessionPatch(
                    session_id=session_id, user_id=user_id, started_at=first, last_event_at=last
                )
                _put(sessions, (user_id, session_id), patch, merge_session)

    # ------------------------------------------------------------- derived topics
    def add_derived(self, entry: DerivedEntry) -> None:
        """Fold one derived-topic entry (any of the visits, urls, sessions topics)."""
        received = entry.received_at
        erased = self.erased
        self.events += len(entry.events)
        for event in entry.events:
            handler = _HANDLERS.get(type(event))
            if self.row_entries and type(event) in (VisitClosed, VisitsClosed):
                explode_rows(self)  # a later version must replace what the rows hold
            if type(event) is VisitsClosed:
                fold_columns(self, event, received, erased.get(event.user_id))
                continue
            if type(event) is VisitRows:
                fold_rows(self, event, received, erased.get(event.user_id))
                continue
            if handler is None:
                if isinstance(event, UserErased):
                    self.erase(event.user_id, event.ts, event.reason)
                elif isinstance(event, SessionErased):
                    self.erase_session(event.user_id, event.session_id, event.reason)
                continue  # else not projected (e.g. dead letters)
            cut = erased.get(event.user_id)
            if cut is not None and _received(event, received) <= cut:
                continue
            if not handler(self, event):
                self.rejected += 1

    def valid_ids(self, *values: str) -> bool:
        """Whether every value is a canonical UUID (:func:`is_uuid`), remembering the
        valid ones: a batch meets the same user and session ids again and again."""
        known = self._uuids
        for value in values:
            if value not in known:
                if not is_uuid(value):
                    return False
                known.add(value)
        return True

    def erase(
        self, user_id: str, at: int, reason: str = "", *, delete_account: bool = False
    ) -> None:
        """Erase the user up to server time ``at``: drop their pending operations and every
        later event received up to ``at``."""
        if not is_uuid(user_id):
            self.rejected += 1
            return
        at = max(at, self.erased.get(user_id, at))
        self.erasures[user_id] = EraseUser(
            user_id=user_id, at=at, reason=reason, delete_account=delete_account
        )
        self._cut(user_id, at)

    def erase_session(self, user_id: str, session_id: str, reason: str = "") -> None:
        """Erase one of the user's sessions: drop its pending operations (the adapter
        also drops its staged rows against the stored tombstones, whenever they come)."""
        if not (is_uuid(user_id) and is_uuid(session_id)):
            self.rejected += 1
            return
        self.session_erasures[(user_id, session_id)] = EraseSession(
            user_id=user_id, session_id=session_id, reason=reason
        )
        explode_rows(self, user_id)  # the user's entries of rows: per visit, by session
        stores: tuple[dict[Any, Any], ...] = (self.sessions, self.visits, self.mindmaps)
        for store in stores:
            doomed = [
                k for k, v in store.items() if k[0] == user_id and visit_session_is(v, session_id)
            ]
            for key in doomed:
                del store[key]

    def drop_users(self, erased: Mapping[str, int]) -> None:
        """Apply erasures committed meanwhile (read inside the transaction)."""
        for user_id, at in erased.items():
            if self.erased.get(user_id, at - 1) < at:
                self._cut(user_id, at)

    def _cut(self, user_id: str, at: int) -> None:
        self.erased[user_id] = at
        stores: tuple[dict[Any, Any], ...] = (
            self.sessions,
            self.urls,
            self.texts,
            self.visits,
            self.mindmaps,
        )
        for store in stores:
            doomed = [k for k, v in store.items() if _owner(k, v) == user_id]
            for key in doomed:
                del store[key]


def _owner(key: Any, op: Any) -> str:
    return key[0] if type(op) is tuple else op.user_id  # type: ignore[no-any-return]


def _visit(batch: Batch, e: VisitClosed) -> bool:
    known = batch._uuids  # the batch's users and sessions recur: skip the method call
    if _UUID.fullmatch(e.visit_id) is None or not (  # decoded: always a str
        (e.session_id in known and e.user_id in known) or batch.valid_ids(e.session_id, e.user_id)
    ):
        return False
    # The event is the row (its fields staged, its tab id, title and domain storable): a row
    # struct of its 15 fields cost ~0.06 s CPU per 100,000 visits. A later version wins.
    batch.visits[(e.user_id, e.visit_id)] = storable_visit(e)
    return True


def _discovered(batch: Batch, e: UrlDiscovered) -> bool:
    if not is_uuid(e.user_id):
        return False
    patch = UrlPatch(
        url_hash=e.url_hash,
        content_hash=e.content_hash,
        user_id=e.user_id,
        discovered=True,
        url=e.url,
        title="",  # a title is its reader's own (page_visits): the shared row keeps none
        domain=e.domain,
        lang=e.lang,
        first_seen_at=e.first_seen_ts,
    )
    _put(batch.urls, (e.url_hash, e.content_hash), patch, merge_url)
    # A text is stored only under its own SHA-256 (the gateway and the processors see to
    # it; checked once more here): a stored text is what every reader of its hash sent.
    if e.content_hash and e.text and e.content_hash not in batch.texts and _text_is(e):
        batch.texts[e.content_hash] = PageTextRow(
            content_hash=e.content_hash,
            user_id=e.user_id,
            lang="",  # shared by every reader: not the first uploader's client's claim
            text=e.text,
            seen_at=e.first_seen_ts,
        )
    return True


def _text_is(e: UrlDiscovered) -> bool:
    return hashlib.sha256(e.text.encode()).hexdigest() == e.content_hash


def _enriched(batch: Batch, e: UrlEnriched) -> bool:
    if not is_uuid(e.user_id):
        return False
    patch = UrlPatch(
        url_hash=e.url_hash,
        content_hash=e.content_hash,
        user_id=e.user_id,
        summary=e.summary,
        tags=list(e.tags),
        topic=e.topic,
        provider=e.provider,
        enriched_at=e.enriched_ts,
    )
    _put(batch.urls, (e.url_hash, e.content_hash), patch, merge_url)
    return True


def _closed(batch: Batch, e: SessionClosed) -> bool:
    if not (is_uuid(e.session_id) and is_uuid(e.user_id)):
        return False
    patch = SessionPatch(
        session_id=e.session_id,
        user_id=e.user_id,
        started_at=e.started_ts,
        stopped_at=e.stopped_ts,
        active_ms=e.active_ms,
        page_count=e.page_count,
        domain_count=e.domain_count,
    )
    _put(batch.sessions, (e.user_id, e.session_id), patch, merge_session)
    return True


def _status(batch: Batch, e: SessionStatusChanged) -> bool:
    if not (is_uuid(e.session_id) and is_uuid(e.user_id)):
        return False
    patch = SessionPatch(
        session_id=e.session_id,
        user_id=e.user_id,
        status=e.status,
        status_at=e.ts,
        status_reason=e.reason,
    )
    _put(batch.sessions, (e.user_id, e.session_id), patch, merge_session)
    return True


def _mindmap(batch: Batch, e: MindmapBuilt) -> bool:
    if not (is_uuid(e.session_id) and is_uuid(e.user_id)):
        return False
    row = MindmapRow(
        session_id=e.session_id,
        user_id=e.user_id,
        graph=_json.encode(e.root),
        provider=e.provider,
        built_at=e.built_ts,
    )
    _put(batch.mindmaps, (e.user_id, e.session_id), row, merge_mindmap)
    return True


def _received(event: Any, received_at: int) -> int:
    """When the gateway received what ``event`` was derived from (server time).

    ``received_at`` is its entry's; an entry from before that field (``0``) falls back
    to the event's own time.
    """
    if received_at > 0:
        return received_at
    return _event_time(event, getattr(event, _TIME_OF[type(event)]))


def _event_time(event: Any, fallback: int) -> int:
    """Session creation time for session-scoped events (UUIDv7 ids), else ``fallback``."""
    session_id = getattr(event, "session_id", None)
    created = session_time(session_id) if session_id else None
    return fallback if created is None else created


_TIME_OF: dict[type[Any], str] = {
    VisitClosed: "start_ts",
    UrlDiscovered: "first_seen_ts",
    UrlEnriched: "enriched_ts",
    SessionClosed: "started_ts",
    SessionStatusChanged: "ts",
    MindmapBuilt: "built_ts",
}
"""The event-time field compared with an erasure's cut, per projected type."""

_HANDLERS: dict[type[Any], Callable[[Batch, Any], bool]] = {
    VisitClosed: _visit,
    UrlDiscovered: _discovered,
    UrlEnriched: _enriched,
    SessionClosed: _closed,
    SessionStatusChanged: _status,
    MindmapBuilt: _mindmap,
}
