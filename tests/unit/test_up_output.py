"""``mindhit up`` output: one ready line per component, then warnings and requests only."""

from __future__ import annotations

import json

from mindhit.up_output import OutputFilter

INFO = json.dumps({"timestamp": "2026-12-04T10:00:01Z", "level": "info", "event": "started"})
WARN = json.dumps(
    {"timestamp": "2026-12-04T10:00:02Z", "level": "warning", "event": "slow", "ms": 900}
)
UPLOAD = json.dumps(
    {"timestamp": "2026-12-04T10:00:03Z", "level": "info", "event": "upload", "status": 202}
)


def test_start_up_chatter_is_quiet_warnings_and_requests_show() -> None:
    quiet = OutputFilter(debug=False)
    assert quiet.feed("┌ƒaµS† v0.15.3┬───") is None
    assert quiet.feed(INFO) is None
    quiet.ready()
    assert quiet.feed(INFO) is None
    assert quiet.feed(WARN) == "10:00:02 warning slow ms=900"
    assert quiet.feed(UPLOAD) == "10:00:03 upload status=202"


def test_a_component_dying_before_ready_shows_what_it_printed() -> None:
    quiet = OutputFilter(debug=False)
    assert quiet.feed("Traceback (most recent call last):") is None
    assert quiet.feed("RuntimeError: no database") is None
    assert quiet.held() == ["Traceback (most recent call last):", "RuntimeError: no database"]


def test_after_ready_plain_lines_show_and_held_lines_are_dropped() -> None:
    quiet = OutputFilter(debug=False)
    quiet.feed("banner")
    quiet.ready()
    assert quiet.held() == []
    assert quiet.feed("Traceback (most recent call last):") is not None


def test_debug_shows_everything_as_it_comes() -> None:
    loud = OutputFilter(debug=True)
    assert loud.feed("banner") == "banner" and loud.feed(INFO) == INFO


def test_fausts_spinner_is_never_shown() -> None:
    quiet = OutputFilter(debug=False)
    quiet.ready()
    assert quiet.feed("\x1b[?25h OK ^") is None
