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
    title_vector_similarity,
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


_MEANING = {  # a made-up vector table: two subjects on two axes, an everyday word on both
    "marathon": [1.0, 0.0, 0.1],
    "running": [0.9, 0.1, 0.0],
    "shoes": [0.8, 0.0, 0.2],
    "hops": [0.0, 1.0, 0.1],
    "airlock": [0.1, 0.9, 0.0],
    "beer": [0.0, 0.8, 0.2],
    "water": [0.5, 0.5, 0.7],
}


def _lookup(word: str) -> np.ndarray | None:
    return np.array(_MEANING[word]) if word in _MEANING else None


def test_titles_that_share_no_word_are_alike_when_their_words_mean_the_same() -> None:
    titles = ["Marathon running", "Shoes : r/running", "Hops", "Airlock beer"]
    similarity = title_vector_similarity(titles, [""] * 4, _lookup, 0.6)
    assert similarity[0, 1] > 0.3 and similarity[2, 3] > 0.3
    assert similarity[0, 2] == similarity[1, 3] == 0.0
    assert title_vector_similarity(["Hops", "Zzz"], ["", ""], _lookup, 0.6).tolist() == [
        [0.0, 0.0],
        [0.0, 0.0],
    ]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from([*_MEANING, "zzz", "the"]), max_size=4), max_size=9),
    st.floats(0.0, 0.9),
)
def test_title_vector_similarity_is_symmetric_within_0_1_and_zero_for_unknown_words(
    word_lists: list[list[str]], threshold: float
) -> None:
    titles = [" ".join(words) for words in word_lists]
    similarity = title_vector_similarity(titles, [""] * len(titles), _lookup, threshold)
    assert similarity.shape == (len(titles), len(titles))
    assert np.allclose(similarity, similarity.T)
    assert ((similarity >= 0.0) & (similarity <= 1.0)).all()
    for index, words in enumerate(word_lists):
        if not set(words) & set(_MEANING):
            assert not similarity[index].any()
