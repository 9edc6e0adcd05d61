"""Retention targets, per-user archive split and the replay diff wording."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mindhit.log_epoch import Position
from projector.archive import split_entry
from projector.diff import SessionChange, describe_changes
from projector.retention import floor_epochs, trim_target
from projector.synthetic import synth_log
from schema.log import RawEntry, decode_raw_entry, encode_raw_entry


@given(
    highwater=st.integers(0, 1000),
    earliest=st.integers(0, 1000),
    aged=st.integers(0, 1000),
    floors=st.lists(st.integers(0, 1000), min_size=1, max_size=4),
    purge=st.none() | st.integers(0, 1000),
)
def test_trim_never_passes_a_reader_and_keeps_the_window_unless_purging(
    highwater: int, earliest: int, aged: int, floors: list[int], purge: int | None
) -> None:
    earliest, aged = min(earliest, highwater), min(aged, highwater)
    floors = [min(f, highwater) for f in floors]
    target = trim_target(
        highwater=highwater, earliest=earliest, aged=aged, floors=floors, purge_upto=purge
    )
    if target is None:
        assert min([max(aged, purge or 0), *floors]) <= earliest  # nothing was allowed
        return
    assert earliest < target <= min(floors)
    if purge is None or purge <= aged:
        assert target == min([aged, *floors])  # the window, as far as the readers allow


def test_split_entry_gives_each_user_only_their_uploads_in_order() -> None:
    items = [
        i
        for i in synth_log(40, users=3, sessions_per_user=1, visits_per_session=2)
        if i.topic == "raw"
    ]
    uploads = [u for i in items for u in decode_raw_entry(i.value).uploads]
    mixed = encode_raw_entry(RawEntry(uploads=uploads))
    parts = split_entry("raw", mixed)
    assert [p[0] for p in parts] == list(dict.fromkeys(u.user_id for u in uploads))
    for user, value in parts:
        assert decode_raw_entry(value).uploads == [u for u in uploads if u.user_id == user]
    single = items[0].value
    assert split_entry("raw", single) == [(uploads[0].user_id, single)]
    assert split_entry("visits", b"\x07junk") == [(None, b"\x07junk")]


def test_diff_line_names_what_changed() -> None:
    change = SessionChange(
        session_id="s1",
        label="Thesis reading",
        before={"status": "recording", "active_ms": 1000, "user_id": "u"},
        after={"status": "completed", "active_ms": 61000, "user_id": "u"},
        visits_before=(3, 60_000),
        visits_after=(4, 90_000),
        mindmap_changed=True,
    )
    line = describe_changes(change)
    assert line.startswith("session s1 “Thesis reading”: ")
    assert "status: recording → completed" in line and "active_ms: 1000 → 61000" in line
    assert "visits: 3 → 4 (dwell 60s → 90s)" in line and "mind map rebuilt" in line
    assert "user_id" not in line
    assert "new session" in describe_changes(SessionChange("s2", "", None, {"status": "x"}))


def test_floor_epochs_are_the_stamped_epochs_of_checkpoints_that_read_something() -> None:
    positions = [
        Position(consumer="archiver", topic="raw", partition=0, offset=4, epoch="e1"),
        Position(consumer="sessions", topic="raw", partition=0, offset=2, epoch="e1"),
        Position(consumer="archiver", topic="raw", partition=1, offset=0, epoch="e0"),
        Position(consumer="archiver", topic="raw", partition=2, offset=3, epoch=None),
        Position(consumer="archiver", topic="raw", partition=3, offset=3, epoch="a"),
        Position(consumer="visits", topic="visits", partition=3, offset=1, epoch="b"),
    ]
    assert floor_epochs(positions) == {0: {"e1"}, 3: {"a", "b"}}
