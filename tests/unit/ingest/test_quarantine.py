"""What the quarantine keeps of a rejected event: a capped excerpt, never a page's text."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from ingest.quarantine import (
    ENTRY_BYTES,
    EXCERPT_BYTES,
    VALUE_CHARS,
    excerpt,
    quarantine_entries,
)

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=400),
    lambda inner: (
        st.lists(inner, max_size=30) | st.dictionaries(st.text(max_size=200), inner, max_size=30)
    ),
    max_leaves=60,
)


@given(_json)
def test_an_excerpt_of_any_json_event_fits_its_cap(value: object) -> None:
    assert len(excerpt(msgspec.json.encode(value))) <= EXCERPT_BYTES


@given(st.binary(max_size=5000))
def test_an_excerpt_of_any_bytes_fits_its_cap(raw: bytes) -> None:
    assert len(excerpt(raw)) <= EXCERPT_BYTES


def test_a_page_text_is_cut_but_the_event_shape_and_short_fields_stay() -> None:
    secret = "the whole article " * 10_000
    raw = msgspec.json.encode(
        {"type": "page.content", "seq": "not a number", "text": secret, "content_hash": "x"}
    )
    kept = msgspec.json.decode(excerpt(raw))
    assert kept["type"] == "page.content"
    assert kept["seq"] == "not a number"
    assert kept["text"].startswith(secret[:VALUE_CHARS])
    assert kept["text"].endswith(f"…({len(secret)})")
    assert secret[: VALUE_CHARS + 1] not in kept["text"]


def test_entries_follow_the_byte_bound_and_the_count_bound() -> None:
    assert quarantine_entries(64 * ENTRY_BYTES, 10_000) == 64
    assert quarantine_entries(8 * 1024 * 1024, 100) == 100
    assert quarantine_entries(10, 100) == 1
