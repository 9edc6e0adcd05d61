"""The log entry codec: what the gateway writes is exactly what consumers read."""

from __future__ import annotations

import zlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schema.events import (
    IdleState,
    MediaState,
    PageContent,
    SessionStarted,
    SessionStopped,
    TabActivated,
    TabRemoved,
    TabUpdated,
    WindowFocus,
    text_hash,
)
from schema.ids import uuid7, uuid7_time_ms
from schema.log import LogEntryError, RawEntry, Upload, decode_raw_entry, encode_raw_entry

uuids = st.builds(uuid7, st.integers(min_value=0, max_value=2**48 - 1))
storable = st.characters(codec="utf-8", exclude_characters="\x00")
"""What the gateway takes in a string: any character but NUL (ingest.validation.NUL_REASON)."""
text = st.text(storable, max_size=80)
urls = st.builds(
    lambda host, path: f"https://{host}.example/{path}",
    st.from_regex(r"[a-z]{1,12}", fullmatch=True),
    text,
)


def _envelope() -> dict[str, st.SearchStrategy[object]]:
    return {
        "event_id": uuids,
        "client_id": st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True),
        "session_id": uuids,
        "seq": st.integers(min_value=0, max_value=2**53),
        "ts": st.integers(min_value=0, max_value=253_402_300_799_999),
    }


events = st.one_of(
    st.builds(SessionStarted, label=st.text(storable, max_size=200), **_envelope()),
    st.builds(SessionStopped, **_envelope()),
    st.builds(
        TabActivated,
        tab_id=st.integers(-1, 10**6),
        window_id=st.integers(-1, 10**6),
        url=urls,
        title=text,
        **_envelope(),
    ),
    st.builds(
        TabUpdated,
        tab_id=st.integers(-1, 10**6),
        window_id=st.integers(-1, 10**6),
        url=urls,
        title=text,
        change=st.sampled_from(["url", "history", "title"]),
        **_envelope(),
    ),
    st.builds(TabRemoved, tab_id=st.integers(-1, 10**6), **_envelope()),
    st.builds(WindowFocus, focused=st.booleans(), window_id=st.integers(-1, 10**6), **_envelope()),
    st.builds(
        IdleState,
        state=st.sampled_from(["active", "idle", "locked"]),
        idle_for_s=st.integers(0, 86_400),
        **_envelope(),
    ),
    st.builds(
        MediaState,
        tab_id=st.integers(-1, 10**6),
        audible=st.booleans(),
        playing=st.booleans(),
        **_envelope(),
    ),
    # content_hash is the text's SHA-256, as the gateway requires of an upload
    st.text(storable, max_size=2000).flatmap(
        lambda body: st.builds(
            PageContent,
            tab_id=st.integers(-1, 10**6),
            url=urls,
            content_hash=st.just(text_hash(body)),
            title=text,
            lang=st.sampled_from(["", "en", "ko", "de-CH"]),
            text=st.just(body),
            **_envelope(),
        )
    ),
)


@given(st.lists(st.lists(events, max_size=30), min_size=1, max_size=4), st.booleans())
def test_any_valid_events_round_trip_through_a_log_entry(
    batches: list[list[object]], compress: bool
) -> None:
    entry = RawEntry(
        uploads=[
            Upload(batch_id=uuid7(), user_id=uuid7(), client_id="c", received_at=i, events=evs)  # type: ignore[arg-type]
            for i, evs in enumerate(batches)
        ]
    )
    assert decode_raw_entry(encode_raw_entry(entry, compress=compress)) == entry


def test_an_unknown_entry_marker_is_a_clear_error() -> None:
    with pytest.raises(LogEntryError, match="marker"):
        decode_raw_entry(b"\x09junk")
    with pytest.raises(LogEntryError):
        decode_raw_entry(b"\x01" + msgspec.msgpack.encode({"uploads": "nope"}))
    with pytest.raises(LogEntryError, match="corrupt compressed entry"):
        decode_raw_entry(b"\x02" + b"not a zlib stream")


def test_entries_written_by_the_standard_zlib_still_decode() -> None:
    """Entries already in Redis and the archive were compressed by ``zlib``; ISA-L reads
    them, and what it writes is a zlib stream any reader can open."""
    uploads = [
        Upload(batch_id=uuid7(), user_id=uuid7(), client_id="c", received_at=i, events=[])
        for i in range(200)
    ]
    entry = RawEntry(uploads=uploads)
    payload = msgspec.msgpack.encode(entry)
    assert decode_raw_entry(b"\x02" + zlib.compress(payload, 1)) == entry
    written = encode_raw_entry(entry, compress=True)
    assert written[:1] == b"\x02"
    assert zlib.decompress(written[1:]) == payload


def test_uuid7_is_time_ordered_and_carries_its_time() -> None:
    first, second = uuid7(1_700_000_000_000), uuid7(1_700_000_000_001)
    assert first < second
    assert uuid7_time_ms(first) == 1_700_000_000_000
    assert first[14] == "7"


def test_idle_events_from_before_idle_for_s_decode_as_zero_and_bounds_hold() -> None:
    envelope = {
        "type": "idle.state",
        "event_id": uuid7(1),
        "client_id": "c",
        "session_id": uuid7(1),
        "seq": 1,
        "ts": 1,
        "state": "idle",
    }
    old = msgspec.msgpack.decode(msgspec.msgpack.encode(envelope), type=IdleState)
    assert old.idle_for_s == 0
    assert msgspec.json.decode(msgspec.json.encode(envelope), type=IdleState).idle_for_s == 0
    assert msgspec.convert({**envelope, "idle_for_s": 86_400}, IdleState).idle_for_s == 86_400
    for bad in (-1, 86_401):
        with pytest.raises(msgspec.ValidationError, match="idle_for_s"):
            msgspec.convert({**envelope, "idle_for_s": bad}, IdleState)
