"""A server-side stop is noted as long as the processors would refuse the session's events."""

from __future__ import annotations

from mindhit.session_stops import STOP_NOTE_IDLE_MULTIPLE, StopNote, read_note, stop_note_ttl_s
from mindhit.settings import Settings
from processors.state import DWELL_IDLE_MULTIPLE, dwell_ttl_ms


def test_a_stop_note_lives_as_long_as_a_users_fold_state() -> None:
    # Shorter, and an extension waking after it would record in vain unheard; longer,
    # and Redis keeps notes nobody needs (the stale rule refuses such events anyway).
    assert STOP_NOTE_IDLE_MULTIPLE == DWELL_IDLE_MULTIPLE
    for idle_close_s in (7200.0, 60.0, 0.5):
        settings = Settings(session_idle_close_s=idle_close_s)
        assert abs(stop_note_ttl_s(settings) * 1000 - dwell_ttl_ms(settings)) <= 1000


def test_a_note_of_an_earlier_build_reads_as_a_users_stop_of_unknown_time() -> None:
    # Notes written before stops carried a reason hold "1": the extension ends the
    # session (as before) and records nothing again in a new one.
    assert read_note(b"1") == StopNote("user", 0)
    assert read_note(b'["idle",1733000000000]') == StopNote("idle", 1_733_000_000_000)
