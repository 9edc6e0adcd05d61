"""Two users' streams, interleaved, fold to each user's rows as if folded alone (issue 12).

The two users' events collide wherever a client can make them collide: the same
``client_id`` and ``seq``, the same session ids (and so mind-map keys), the same visit
ids, the same URLs and content hashes, a text forged under another text's hash. Whatever
the interleaving, the rows a user reads (their sessions, visits and maps; for the page
versions they read: the text, the URL and the shared enrichment) are the rows folding
their stream alone gives.

Shared rows are modelled as the pipeline makes them: a page version's enrichment is
computed once (cached per version), so both users' ``url.enriched`` for one version
carry the same answer; what differs per user is what their client sent (title,
language, first-seen time, the text itself, which may be forged).
"""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from projector.folds import Batch
from schema.derived import (
    MindmapBuilt,
    MindmapNode,
    SessionClosed,
    SessionStatusChanged,
    UrlDiscovered,
    UrlEnriched,
    VisitClosed,
)
from schema.events import SessionStarted, SessionStopped, TabActivated
from schema.ids import uuid7
from schema.log import DerivedEntry, RawEntry, Upload

USERS = ("00000000-0000-7000-8000-0000000000aa", "00000000-0000-7000-8000-0000000000bb")
T0 = 1_767_000_000_000
SESSIONS = tuple(uuid7(T0 + i) for i in range(2))
VISITS = tuple(uuid7(T0 + 10 + i) for i in range(3))
CLIENTS = ("c1", "c2")
TEXTS = ("the lighthouse guides ships", "a recipe for bread")
URLS = tuple(f"https://site{i}.example/page" for i in range(2))


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _url_hash(url: str) -> str:
    return _hash(url)[:32]


def _version(draw: st.DrawFn) -> tuple[str, str]:
    """A (url, content_hash) read: the hash of one of the texts, or none."""
    url = draw(st.sampled_from(URLS))
    text = draw(st.sampled_from((*TEXTS, "")))
    return url, _hash(text) if text else ""


@st.composite
def _raw(draw: st.DrawFn, user: str) -> RawEntry:
    client, session = draw(st.sampled_from(CLIENTS)), draw(st.sampled_from(SESSIONS))
    seq, ts = draw(st.integers(1, 4)), T0 + draw(st.integers(0, 10_000))
    env: dict[str, Any] = {
        "event_id": uuid7(ts),
        "client_id": client,
        "session_id": session,
        "seq": seq,
        "ts": ts,
    }
    kind = draw(st.sampled_from(["start", "stop", "tab"]))
    if kind == "start":
        event: Any = SessionStarted(**env, label=f"{user[-2:]} label")
    elif kind == "stop":
        event = SessionStopped(**env)
    else:
        event = TabActivated(**env, tab_id=1, window_id=1, url=draw(st.sampled_from(URLS)))
    upload = Upload(batch_id=uuid7(ts), user_id=user, client_id=client, received_at=ts,
                    events=[event])  # fmt: skip
    return RawEntry(uploads=[upload])


@st.composite
def _derived_event(draw: st.DrawFn, user: str) -> Any:
    session, ts = draw(st.sampled_from(SESSIONS)), T0 + draw(st.integers(0, 10_000))
    kind = draw(st.sampled_from(["visit", "closed", "status", "map", "discovered", "enriched"]))
    if kind == "visit":
        url, content = _version(draw)
        dwell = draw(st.integers(1_000, 60_000))
        return VisitClosed(
            user_id=user, visit_id=draw(st.sampled_from(VISITS)),
            client_id=draw(st.sampled_from(CLIENTS)), session_id=session, tab_id=1, url=url,
            url_hash=_url_hash(url), domain=url.split("/")[2], title=f"{user[-2:]}'s title",
            start_ts=ts, end_ts=ts + dwell, dwell_ms=dwell, opened_seq=draw(st.integers(1, 4)),
            end_reason="switch", content_hash=content,
        )  # fmt: skip
    if kind == "closed":
        return SessionClosed(
            user_id=user, session_id=session, started_ts=ts, stopped_ts=ts + 5_000,
            active_ms=draw(st.integers(0, 5_000)), page_count=draw(st.integers(0, 3)),
            domain_count=1,
        )  # fmt: skip
    if kind == "status":
        status = draw(st.sampled_from(["processing", "completed", "failed"]))
        return SessionStatusChanged(user_id=user, session_id=session, status=status, ts=ts)
    if kind == "map":
        root = MindmapNode(label=f"{user[-2:]} map {draw(st.integers(0, 3))}")
        return MindmapBuilt(user_id=user, session_id=session, root=root, provider="local",
                            built_ts=ts)  # fmt: skip
    url, content = _version(draw)
    if kind == "discovered":
        text = next((t for t in TEXTS if _hash(t) == content), "")
        if content and draw(st.booleans()):
            text = f"{user[-2:]} forged text"  # under another text's hash
        return UrlDiscovered(
            user_id=user, url_hash=_url_hash(url), url=url, domain=url.split("/")[2],
            title=f"{user[-2:]}'s title", first_seen_ts=ts, content_hash=content,
            lang=draw(st.sampled_from(["en", "de"])), text=text,
        )  # fmt: skip
    return UrlEnriched(  # the version's one cached answer
        user_id=user, url_hash=_url_hash(url), content_hash=content,
        summary=f"about {url} {content[:6]}", tags=[content[:4] or "none"], topic="t",
        provider="local", enriched_ts=T0 + 50_000,
    )  # fmt: skip


@st.composite
def _derived(draw: st.DrawFn, user: str) -> DerivedEntry:
    return DerivedEntry(events=draw(st.lists(_derived_event(user), min_size=1, max_size=3)))


def _stream(user: str) -> st.SearchStrategy[list[RawEntry | DerivedEntry]]:
    return st.lists(st.one_of(_raw(user), _derived(user)), max_size=12)


def fold_entries(entries: list[RawEntry | DerivedEntry]) -> Batch:
    """One batch folded from raw and derived entries, in order."""
    batch = Batch()
    for entry in entries:
        if isinstance(entry, RawEntry):
            batch.add_raw(entry)
        else:
            batch.add_derived(entry)
    return batch


def _read_rows(batch: Batch, user: str) -> dict[str, Any]:
    """What the dashboard reads for ``user``: their rows, and the shared rows of the
    page versions they read (text by hash; URL, domain and enrichment of a version)."""
    visits = {k: v for k, v in batch.visits.items() if v.user_id == user}
    versions = {(v.url_hash, v.content_hash) for v in visits.values()}
    return {
        "sessions": {k: v for k, v in batch.sessions.items() if v.user_id == user},
        "visits": visits,
        "maps": {k: v for k, v in batch.mindmaps.items() if v.user_id == user},
        "urls": {
            key: (u.url, u.domain, u.title, u.summary, u.tags, u.topic, u.provider)
            for key, u in batch.urls.items()
            if key in versions
        },
        "texts": {h: t.text for h, t in batch.texts.items() if h in {c for _, c in versions}},
    }


@settings(max_examples=300, deadline=None)
@given(_stream(USERS[0]), _stream(USERS[1]), st.data())
def test_interleaving_two_users_changes_neither_users_rows(
    first: list[RawEntry | DerivedEntry], second: list[RawEntry | DerivedEntry], data: Any
) -> None:
    # Each user's stream alone. A version's shared row exists once either user read it,
    # so each "alone" fold also sees the other's announcements (discovery and
    # enrichment are announced once for everyone): only the other's own rows are left out.
    def shared(entries: list[RawEntry | DerivedEntry]) -> list[RawEntry | DerivedEntry]:
        kept = [
            DerivedEntry(
                events=[e for e in x.events if isinstance(e, (UrlDiscovered, UrlEnriched))]
            )
            for x in entries
            if isinstance(x, DerivedEntry)
        ]
        return [x for x in kept if x.events]

    order = data.draw(st.permutations([0] * len(first) + [1] * len(second)))
    streams = [iter(first), iter(second)]
    interleaved = [next(streams[i]) for i in order]
    together = fold_entries(interleaved)
    for user, own, other in ((USERS[0], first, second), (USERS[1], second, first)):
        alone = fold_entries([*shared(other), *own]) if _announces(other) else fold_entries(own)
        got, want = _read_rows(together, user), _read_rows(alone, user)
        assert got["sessions"] == want["sessions"]
        assert got["visits"] == want["visits"]
        assert got["maps"] == want["maps"]
        assert got["texts"] == want["texts"]
        assert got["urls"] == want["urls"]


def _announces(entries: list[RawEntry | DerivedEntry]) -> bool:
    return any(
        isinstance(e, (UrlDiscovered, UrlEnriched))
        for x in entries
        if isinstance(x, DerivedEntry)
        for e in x.events
    )


def test_a_forged_text_is_stored_for_no_one() -> None:
    real, forged = TEXTS[0], "attacker's words"
    batch = fold_entries(
        [
            DerivedEntry(
                events=[
                    UrlDiscovered(
                        user_id=USERS[1], url_hash="u", url=URLS[0], domain="site0.example",
                        title="", first_seen_ts=T0, content_hash=_hash(real), text=forged,
                    ),
                    UrlDiscovered(
                        user_id=USERS[0], url_hash="u", url=URLS[0], domain="site0.example",
                        title="", first_seen_ts=T0 + 1, content_hash=_hash(real), text=real,
                    ),
                ]
            )
        ]
    )  # fmt: skip
    assert {h: t.text for h, t in batch.texts.items()} == {_hash(real): real}
