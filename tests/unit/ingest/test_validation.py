"""Per-event validation: any invalid event is reported with its index, the rest kept."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.validation import (
    HASH_MISMATCH_REASON,
    INCOGNITO_REASON,
    TEXT_MISSING_REASON,
    BatchError,
    parse_batch,
    split_validation_message,
)
from schema.events import PageContent, text_hash
from schema.ids import uuid7
from schema.nul import NUL_REASON
from tests.unit.ingest.factories import event_dicts, page_content, upload_body
from tests.unit.test_log_codec import events as valid_events

ENVELOPE_FIELDS = ("event_id", "client_id", "session_id", "seq", "ts", "type")

# (field, value) that no event type accepts
BAD_VALUES: list[tuple[str, Any]] = [
    ("event_id", "not-a-uuid"),
    ("event_id", 7),
    ("client_id", ""),
    ("client_id", "has space"),
    ("session_id", "0190A000-0000-7000-8000-000000000000"),  # upper case
    ("seq", -1),
    ("seq", "12"),
    ("seq", 2**64),  # beyond what the msgpack log can hold
    ("ts", -5),
    ("ts", 1.5),
    ("type", "tab.teleported"),
    ("v", 2),
    ("incognito", "no"),
]

BATCH = uuid7().encode()

Mutation = tuple[str, str, Any]  # kind ("set", "drop", "replace"), field, value


mutations: st.SearchStrategy[Mutation] = st.one_of(
    st.sampled_from(BAD_VALUES).map(lambda fv: ("set", fv[0], fv[1])),
    st.sampled_from(ENVELOPE_FIELDS).map(lambda f: ("drop", f, None)),
    st.sampled_from([42, "event", None, [1]]).map(lambda v: ("replace", "$", v)),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(valid_events, min_size=1, max_size=40),
    st.data(),
)
def test_any_invalidating_mutation_is_reported_with_its_index(
    events: list[Any], data: st.DataObject
) -> None:
    dicts: list[Any] = [msgspec.to_builtins(e) for e in events]
    bad = data.draw(st.sets(st.integers(0, len(dicts) - 1), min_size=1, max_size=len(dicts)))
    expected_field: dict[int, str] = {}
    for index in bad:
        kind, field, value = data.draw(mutations)
        if kind == "set":
            dicts[index][field] = value
        elif kind == "drop":
            del dicts[index][field]
        else:
            dicts[index] = value
        expected_field[index] = field
    parsed = parse_batch(upload_body(dicts))
    assert {r.rejection.index: r.rejection.field for r in parsed.rejected} == expected_field
    assert all(r.rejection.reason for r in parsed.rejected)
    assert parsed.events == [e for i, e in enumerate(events) if i not in bad]
    assert parsed.total == len(events)


@given(st.lists(valid_events, max_size=40))
def test_valid_batches_are_taken_whole(events: list[Any]) -> None:
    batch_id = uuid7()
    parsed = parse_batch(upload_body([msgspec.to_builtins(e) for e in events], batch_id=batch_id))
    assert (parsed.batch_id, parsed.events, parsed.rejected) == (batch_id, events, [])


def test_incognito_events_are_refused_without_keeping_them() -> None:
    dicts = event_dicts(3)
    dicts[1]["incognito"] = True
    parsed = parse_batch(upload_body(dicts))
    assert [e.seq for e in parsed.events] == [dicts[0]["seq"], dicts[2]["seq"]]
    [refused] = parsed.rejected
    assert (refused.rejection.index, refused.rejection.field) == (1, "incognito")
    assert refused.rejection.reason == INCOGNITO_REASON and refused.raw is None


@pytest.mark.parametrize("slow", [False, True])
def test_page_content_whose_hash_is_not_its_text_is_refused_alone(slow: bool) -> None:
    public = "The public page everyone reads, word for word."
    dicts = event_dicts(2)
    genuine = page_content("https://news.example/a", public)
    forged = page_content("https://news.example/a", "Attacker's words") | {
        "content_hash": text_hash(public)
    }
    by_hash = page_content("https://news.example/a", "") | {"content_hash": text_hash(public)}
    empty = page_content("https://news.example/b", "")
    dicts = [dicts[0], forged, genuine, by_hash, empty, dicts[1]]
    if slow:  # one malformed event sends the batch down the per-event path
        dicts.append({"type": "tab.teleported"})
    parsed = parse_batch(upload_body([d | _envelope_of(dicts[0], i) for i, d in enumerate(dicts)]))
    refused = [(r.rejection.index, r.rejection.field, r.rejection.reason) for r in parsed.rejected]
    assert refused[:2] == [
        (1, "content_hash", HASH_MISMATCH_REASON),
        (3, "content_hash", TEXT_MISSING_REASON),
    ]
    assert len(refused) == 2 + slow
    kept = [e for e in parsed.events if isinstance(e, PageContent)]
    assert [(e.text, e.content_hash) for e in kept] == [
        (public, text_hash(public)),
        ("", text_hash("")),
    ]
    assert len(parsed.events) == 4
    # What is kept of a refused page content for the quarantine is the event as sent.
    assert b"Attacker's words" in (parsed.rejected[0].raw or b"")


@pytest.mark.parametrize("slow", [False, True])
def test_an_event_with_a_nul_character_in_a_string_is_refused_alone(slow: bool) -> None:
    """PostgreSQL stores no NUL: such a title in the log would stop the projector."""
    first, tab, _, _, _, _, said = event_dicts(7)
    tab["title"] = "Tab\x00title"
    content = page_content("https://news.example/a", "page\x00text") | _envelope_of(first, 2)
    said["title"] = "A title that says \\u0000 in words"
    dicts = [first, tab, content, said]
    if slow:
        dicts.append({"type": "tab.teleported"})
    parsed = parse_batch(upload_body(dicts))
    refused = [(r.rejection.index, r.rejection.field, r.rejection.reason) for r in parsed.rejected]
    assert refused[:2] == [(1, "title", NUL_REASON), (2, "text", NUL_REASON)]
    assert len(refused) == 2 + slow
    assert [e.seq for e in parsed.events] == [first["seq"], said["seq"]]
    assert parsed.events[1].title == "A title that says \\u0000 in words"  # type: ignore[union-attr]


def _envelope_of(first: dict[str, Any], index: int) -> dict[str, Any]:
    return {
        "event_id": uuid7(),
        "client_id": first["client_id"],
        "session_id": first["session_id"],
        "seq": index + 1,
        "ts": first["ts"] + index,
    }


@pytest.mark.parametrize(
    ("body", "status", "field", "position"),
    [
        (b'{"batch_id": "x",, }', 400, None, 17),
        (b'{"batch_id": ', 400, None, 13),
        (b"[1, 2]", 400, "$", None),
        (b'{"client_id": "c", "events": []}', 400, "batch_id", None),
        (upload_body([], client_id="bad id"), 400, "client_id", None),
        (b'{"batch_id": "%s", "client_id": "c", "events": 1}' % BATCH, 400, "events", None),
        (upload_body(event_dicts(501)), 413, "events", None),
    ],
    ids=[  # fixed, not from the bodies: their ids are new each run, and xdist's workers must agree
        "broken-json", "cut-short", "not-an-object", "no-batch-id", "bad-client-id",
        "events-not-a-list", "too-many-events",
    ],
)  # fmt: skip
def test_whole_upload_errors(
    body: bytes, status: int, field: str | None, position: int | None
) -> None:
    with pytest.raises(BatchError) as caught:
        parse_batch(body)
    assert (caught.value.status_code, caught.value.field, caught.value.position) == (
        status,
        field,
        position,
    )


def test_validation_messages_name_the_field() -> None:
    assert split_validation_message("Expected `int`, got `str` - at `$.seq`") == (
        "seq",
        "Expected `int`, got `str`",
    )
    assert split_validation_message("Object missing required field `tab_id`")[0] == "tab_id"
    assert split_validation_message("Expected `object`, got `int`")[0] == "$"
