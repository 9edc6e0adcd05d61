"""Search snippets and block-list parsing: plain text plus ranges, never markup."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from web.snippets import (
    _plain,
    _repeats,
    distinct_fragments,
    normalize_domains,
    snippet_parts,
    split_highlights,
)


def test_match_markers_become_ranges_of_plain_text() -> None:
    text, ranges = split_highlights("the \x01nebula\x02 and a \x01red\x02 giant")
    assert text == "the nebula and a red giant"
    assert [text[a:b] for a, b in ranges] == ["nebula", "red"]
    parts = snippet_parts(text, ranges)
    assert parts[:3] == [("the ", False), ("nebula", True), (" and a ", False)]


def test_markup_in_page_text_stays_text() -> None:
    text, ranges = split_highlights("<b>\x01x\x02</b>")
    assert text == "<b>x</b>" and ranges == [(3, 4)]


@given(st.lists(st.tuples(st.text(alphabet="ab <>&", max_size=5), st.booleans()), max_size=10))
def test_parts_rebuild_the_text(pieces: list[tuple[str, bool]]) -> None:
    marked = "".join(f"\x01{p}\x02" if hl else p for p, hl in pieces)
    text, ranges = split_highlights(marked)
    assert "".join(p for p, _ in snippet_parts(text, ranges)) == text
    assert all(0 <= a < b <= len(text) for a, b in ranges)


def test_block_list_accepts_urls_wildcards_and_reports_garbage() -> None:
    valid, invalid = normalize_domains(
        "https://Bank.example/login, *.mail.example\n.news.example bank.example no_way"
    )
    assert valid == ["bank.example", "mail.example", "news.example"]
    assert invalid == ["no_way"]


def test_a_passage_the_summary_quotes_is_shown_once() -> None:
    marked = (
        "the route climbs the \x01Mist\x02 Trail … the route climbs the \x01Mist\x02 Trail."
        " … Granite steps lead to Vernal Fall"
    )
    text, ranges = split_highlights(distinct_fragments(marked))
    assert text == "the route climbs the Mist Trail … Granite steps lead to Vernal Fall"
    assert [text[a:b] for a, b in ranges] == ["Mist"]


def test_a_fragment_inside_a_longer_one_gives_way_to_it() -> None:
    marked = "climbs the \x01Mist\x02 … the route climbs the \x01Mist\x02 Trail to the top"
    assert distinct_fragments(marked) == "the route climbs the \x01Mist\x02 Trail to the top"


@given(st.lists(st.text(alphabet="ab \x01\x02.", max_size=12), max_size=6))
def test_no_two_kept_fragments_repeat_each_other(fragments: list[str]) -> None:
    kept = [_plain(f) for f in distinct_fragments(" … ".join(fragments)).split(" … ")]
    kept = [k for k in kept if k]
    for i, a in enumerate(kept):
        for j, b in enumerate(kept):
            assert i == j or not _repeats(a, b)
    # Nothing new appears: every kept fragment was one of the inputs.
    inputs = {_plain(f) for f in fragments}
    assert set(kept) <= inputs


def test_a_sentence_cut_at_another_word_is_still_a_repeat() -> None:
    # What the dashboard showed for "python": the summary's sentence cut mid-way by
    # ts_headline, then the same sentence again from the page text.
    marked = (
        "virtual environment is an isolated \x01Python\x02 installation with its own"
        " site-packages directory, so each project can pin its own dependency versions."
        " Create one with \x01python\x02 -m venv .venv … with source .venv/bin/activate on"
        " Linux or macOS. … A virtual environment is an isolated \x01Python\x02 installation"
        " with its own site-packages directory, so each project can pin its own dependency"
        " versions"
    )
    text, _ = split_highlights(distinct_fragments(marked))
    assert text.count("isolated Python installation") == 1
    assert text.endswith("with source .venv/bin/activate on Linux or macOS.")
