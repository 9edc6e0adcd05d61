"""When a user's fold state has expired, an old upload of a forgotten session is late.

The state store lets a user's state expire a while after their last event; what it
knew of their stopped sessions goes with it. An upload recorded before the horizon
(``stale_before``: when the gateway received it minus the state's life) of a session
the state does not know is then counted late and ignored, as it would be with the
state that knew the session was stopped, and its stop marks the session failed (else it
would wait for a mind map forever); a session the state knows, and uploads recorded
after the horizon, fold as always.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from processors.dwell import encode_state, fold
from processors.dwell_state import late_session_failed
from tests.unit.processors.browsing import Browser
from tests.unit.processors.test_dwell import USER

SID = "0190a0b0-0000-7000-8000-0000000000b1"
OTHER = "0190a0b0-0000-7000-8000-0000000000b2"


def _reading(client: str, sid: str, ts: int) -> Browser:
    b = Browser(client, sid, ts=ts)
    b.start()
    b.activate(1, "https://a.example/")
    b.wait(5_000).activate(2, "https://b.example/")
    b.wait(5_000).stop()
    return b


def test_a_forgotten_sessions_upload_after_the_state_expired_is_late_and_only_fails_it() -> None:
    late = _reading("laptop", SID, ts=1_000_000)
    _, result = fold(None, USER, late.events, stale_before=late.ts + 1)
    assert result.late == len(late.events)
    # No visit, no close: the session's stop marks it failed, saying why, at the stop.
    assert result.derived == [late_session_failed(USER, SID, late.ts)]
    (failed,) = result.derived
    assert failed.status == "failed" and failed.ts == late.ts and "7 days" in failed.reason


def test_only_a_late_stop_fails_the_session_not_its_other_events() -> None:
    late = _reading("laptop", SID, ts=1_000_000)
    _, result = fold(None, USER, late.events[:-1], stale_before=late.ts + 1)
    assert result.derived == [] and result.late == len(late.events) - 1


def test_the_rule_only_reaches_sessions_the_state_does_not_know() -> None:
    b = Browser("laptop", SID, ts=1_000_000)
    b.start()
    b.activate(1, "https://a.example/")
    state, _ = fold(None, USER, b.events)
    more = Browser("laptop", SID, ts=b.ts, seq=b.seq)
    more.wait(5_000).activate(2, "https://b.example/")
    more.wait(1_000).stop()
    _, known = fold(state, USER, more.events, stale_before=10**13)
    _, plain = fold(state, USER, more.events)
    assert known.derived == plain.derived and known.late == 0
    assert any(type(d).__name__ == "SessionClosed" for d in known.derived)


@given(offset=st.integers(-50_000, 50_000), known=st.booleans())
def test_uploads_recorded_after_the_horizon_fold_as_without_it(offset: int, known: bool) -> None:
    first = _reading("laptop", OTHER, ts=1_000_000)
    state = fold(None, USER, first.events)[0] if known else None
    b = _reading("desk", SID, ts=2_000_000)
    horizon = 2_000_000 + offset
    start = encode_state(state) if state is not None else None
    _, ruled = fold(start, USER, b.events, stale_before=horizon)
    _, plain = fold(start, USER, b.events)
    if horizon <= 2_000_000:  # nothing recorded before the horizon
        assert ruled.derived == plain.derived and ruled.late == plain.late
    else:
        assert ruled.late > 0
