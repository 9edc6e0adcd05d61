"""Page text stored only under its own hash, whatever an older log entry says."""

from __future__ import annotations

import msgspec

from processors.agents.raw import fold_entry
from processors.content import verified_contents
from schema.events import PageContent
from tests.unit.processors.browsing import Browser, content_hash

SID = "01900000-0000-7000-8000-000000000001"


def test_a_text_under_another_texts_hash_is_neither_stored_nor_announced() -> None:
    b = Browser("c1", SID)
    b.start()
    b.activate(1, "https://public.example/")
    genuine = b.content(1, "https://public.example/", "The real page.")
    assert isinstance(genuine, PageContent)
    forged = msgspec.structs.replace(genuine, seq=genuine.seq + 100, text="Attacker's words")
    b.wait(30_000).stop()
    events = [*b.events, forged]

    checked = verified_contents(events)
    assert checked[:-1] == b.events  # the genuine one and every other event unchanged
    assert (checked[-1].text, checked[-1].content_hash) == ("", "")  # type: ignore[union-attr]
    assert checked[-1].seq == forged.seq

    folded = fold_entry({}, {"u1": events}, 0)
    assert folded.texts["u1"] == [(content_hash("The real page."), "The real page.")]
    announced = {c.content_hash: c.text for c in folded.candidates.values()}
    assert "Attacker's words" not in announced.values()


def test_events_sent_by_hash_only_pass_unchanged() -> None:
    b = Browser("c1", SID)
    sent = b.content(1, "https://public.example/", "The real page.")
    by_hash = msgspec.structs.replace(sent, text="")
    assert verified_contents([by_hash]) == [by_hash]
