"""Pure page features: title parts, headings, URL words, weighted vectors."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.ai.features import (
    headings,
    main_title,
    page_vectors,
    rarity,
    title_parts,
    url_words,
    weighted_words,
)

words = st.sampled_from(["Espresso", "grind", "the", "Chess", "opening", "water", "of", "r/chess"])
titles = st.lists(st.one_of(words, st.sampled_from(["-", "|", ":"])), max_size=12).map(" ".join)


def test_main_title_drops_the_site_name() -> None:
    assert main_title("Shots sour even at the finest setting? : r/espresso") == (
        "Shots sour even at the finest setting?"
    )
    assert main_title("Flat vs conical burrs - Home-Barista.com Forum") == "Flat vs conical burrs"
    assert title_parts("A | B - C") == ["A", "B", "C"]


@settings(max_examples=80, deadline=None)
@given(titles)
def test_main_title_is_one_of_the_titles_parts(title: str) -> None:
    parts = title_parts(title)
    assert main_title(title) in (parts or [title.strip()])


def test_headings_are_short_lines_without_closing_punctuation() -> None:
    text = "Intro sentence here.\nChoose the grinder\nA long paragraph follows here.\nTamp level"
    assert headings(text) == ["Choose the grinder", "Tamp level"]
    assert headings("Just one line") == []


def test_url_words_come_from_the_path_not_the_host() -> None:
    assert url_words("https://www.chess.example/openings/sicilian-defence_najdorf?x=1") == [
        "openings",
        "sicilian",
        "defence",
        "najdorf",
    ]


def test_title_words_weigh_more_than_body_words_and_everyday_words_are_less_rare() -> None:
    bag = weighted_words("Espresso grind", "The espresso grind matters. Water too.")
    assert bag["espresso"] > bag["water"]
    assert rarity("espresso") > rarity("water") > rarity("the")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(list("abcdefg")), st.floats(0.1, 9)), max_size=8))
def test_page_vectors_are_unit_rows_or_zero(bags: list[dict[str, float]]) -> None:
    matrix, _ = page_vectors(bags)
    assert matrix.shape[0] == len(bags)
    norms = np.linalg.norm(matrix, axis=1)
    for bag, norm in zip(bags, norms, strict=True):
        assert (abs(norm - 1.0) < 1e-9) if bag else norm == 0.0
