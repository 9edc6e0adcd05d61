"""The NUL scrub leaves a batch PostgreSQL takes and changes nothing else."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import example, given
from hypothesis import strategies as st

from mindhit.copy_binary import uuid_bytes
from projector.folds import Batch
from projector.nul_text import REPLACEMENT, scrub_nul
from projector.rows import MindmapRow, UrlPatch
from schema.ids import deterministic_id

texts = st.text(alphabet=st.sampled_from(["a", "\x00", "é", "\\", "u", "0"]), max_size=12)


def _has_nul(value: Any) -> bool:
    if type(value) is str:
        return "\x00" in value
    if type(value) is list:
        return any(map(_has_nul, value))
    return False


@example(title="", summary="", tags=[], label="\\u0000 \\\\u0000 \x00")
@given(title=texts, summary=texts, tags=st.lists(texts, max_size=3), label=texts)
def test_every_nul_becomes_a_replacement_character_and_nothing_else_changes(
    title: str, summary: str, tags: list[str], label: str
) -> None:
    batch = Batch()
    user = deterministic_id("u", 1)
    # A visit's staging row: its raw UUID bytes hold NUL bytes that must stay.
    visit_id = uuid_bytes("00000000-0000-7000-8000-000000000001")
    batch.visits[(user, "v")] = (visit_id, title, 7)
    batch.urls[("h", "c")] = UrlPatch(
        url_hash="h", content_hash="c", user_id=user, summary=summary, tags=tags
    )
    graph = msgspec.json.encode({"label": label})
    batch.mindmaps[(user, "s")] = MindmapRow(
        session_id="s", user_id=user, graph=graph, provider="local", built_at=1
    )
    changed = scrub_nul(batch, ("sessions", "urls", "texts", "visits", "mindmaps"))

    def clean(text: str) -> str:
        return text.replace("\x00", REPLACEMENT)

    assert changed == any(map(_has_nul, [title, summary, tags, label]))
    assert batch.visits[(user, "v")] == (visit_id, clean(title), 7)
    patch = batch.urls[("h", "c")]
    assert (patch.summary, patch.tags) == (clean(summary), [clean(t) for t in tags])
    stored = batch.mindmaps[(user, "s")].graph
    assert msgspec.json.decode(stored) == {"label": clean(label)}
