"""States saved before a session's page totals were keyed by URL fold as they would have.

Until 2026-12-06 a session kept its totals in ``pages``, keyed by ``url_hash``, each with
its URL and domain; now in ``dwell``, keyed by the normalized URL (about 40 % of the
bytes). A state saved the old way is moved to the new layout when decoded.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.dwell import SessionState, UserState, decode_state, encode_state, fold
from processors.dwell_state import ClientState, StoppedClient
from processors.urls import domain_of, url_hash
from schema.derived import SessionClosed, SessionPage
from tests.unit.processors.browsing import Browser
from tests.unit.processors.test_dwell import THRESHOLDS, USER, browsing

S1 = "0190a0b0-0000-7000-8000-00000000a001"
S2 = "0190a0b0-0000-7000-8000-00000000a002"
FIXTURE = Path(__file__).parents[2] / "fixtures" / "dwell_state_before_page_dwell.hex"


class _OldPage(msgspec.Struct, array_like=True):
    url: str
    title: str
    domain: str
    dwell_ms: int
    content_hash: str = ""


class _OldSession(msgspec.Struct, kw_only=True):
    started_ts: int
    last_end_ts: int = 0
    active_ms: int = 0
    pages: dict[str, _OldPage] = {}
    stopped_ts: int = -1
    stopped_clients: dict[str, StoppedClient] = {}


class _OldUser(msgspec.Struct, kw_only=True):
    clients: dict[str, ClientState] = {}
    sessions: dict[str, _OldSession] = {}
    stopped: list[str] = []
    closed: dict[str, _OldSession] = {}


def _saved_before(state: UserState) -> bytes:
    """``state`` encoded as the build before saved it (the old layout, field for field)."""

    def old(s: SessionState) -> _OldSession:
        pages = {
            url_hash(url): _OldPage(url, t.title, domain_of(url), t.dwell_ms, t.content_hash)
            for url, t in s.dwell.items()
        }
        return _OldSession(
            started_ts=s.started_ts,
            last_end_ts=s.last_end_ts,
            active_ms=s.active_ms,
            pages=pages,
            stopped_ts=s.stopped_ts,
            stopped_clients=s.stopped_clients,
        )

    return msgspec.msgpack.encode(
        _OldUser(
            clients=state.clients,
            sessions={sid: old(s) for sid, s in state.sessions.items()},
            stopped=state.stopped,
            closed={sid: old(s) for sid, s in state.closed.items()},
        )
    )


@settings(max_examples=150, deadline=None)
@given(browsing(), THRESHOLDS, st.data())
def test_a_state_saved_in_the_old_layout_folds_as_the_same_state_in_the_new_one(
    events: list[object], threshold: int, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(events)))
    before, _ = fold(None, USER, events[:cut], idle_threshold_ms=threshold)  # type: ignore[arg-type]
    old = _saved_before(before)

    assert decode_state(old) == before
    assert encode_state(decode_state(old)) == encode_state(before)  # saved in the new layout
    from_old, old_out = fold(old, USER, events[cut:], idle_threshold_ms=threshold)  # type: ignore[arg-type]
    from_new, new_out = fold(encode_state(before), USER, events[cut:], idle_threshold_ms=threshold)  # type: ignore[arg-type]
    assert msgspec.msgpack.encode(old_out) == msgspec.msgpack.encode(new_out)
    assert encode_state(from_old) == encode_state(from_new)


def test_a_state_saved_by_the_build_before_closes_its_session_with_its_pages() -> None:
    # FIXTURE: the state the build before (53756cc) saved after these events up to the
    # second session's last page: one stopped session kept whole, one open (``pages``).
    b = Browser("c1", S1)
    b.start()
    b.activate(1, "https://www.a.example/x?utm_source=n#top", title="A")
    b.wait(5_000).activate(2, "https://b.example/y")
    b.wait(3_000).content(2, "https://b.example/y", "text of y", title="Y")
    b.wait(4_000).activate(1, "https://a.example/x")
    b.wait(2_000).stop()
    b.session_id = S2
    b.wait(1_000).start()
    b.activate(3, "https://c.example/z", title="C")
    b.wait(7_000).activate(1, "https://a.example/x")
    saved = bytes.fromhex(FIXTURE.read_text().strip())
    assert url_hash("https://c.example/z").encode() in saved  # the old layout, by url_hash

    state = decode_state(saved)
    assert not any(s.pages for s in [*state.sessions.values(), *state.closed.values()])
    assert list(state.closed[S1].dwell) == [
        "https://www.a.example/x",
        "https://b.example/y",
        "https://a.example/x",
    ]
    assert len(encode_state(state)) < len(saved) * 0.8

    _, out = fold(saved, USER, [b.wait(6_000).stop()])
    closed = [d for d in out.derived if isinstance(d, SessionClosed)]
    assert [(c.session_id, c.active_ms, c.pages) for c in closed] == [
        (
            S2,
            13_000,
            [
                SessionPage(
                    url_hash=url_hash("https://c.example/z"),
                    url="https://c.example/z",
                    title="C",
                    domain="c.example",
                    dwell_ms=7_000,
                ),
                SessionPage(
                    url_hash=url_hash("https://a.example/x"),
                    url="https://a.example/x",
                    title="A",
                    domain="a.example",
                    dwell_ms=6_000,
                ),
            ],
        )
    ]
