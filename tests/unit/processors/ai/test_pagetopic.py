"""Page topics and tags a person recognizes: noun phrases from the text and the URL's slug."""

from __future__ import annotations

from urllib.parse import urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from mindhit.corpus import load_pages
from processors.ai.base import Enrichment, PageInput
from processors.ai.local import enrich_page
from processors.ai.pagetopic import WEAK_HEADS, rank_phrases, slug_runs
from processors.ai.text import stem, title_case


def _enrich(url_tail: str, *, bare_url: bool = False) -> Enrichment:
    """The shared enrichment of a demo page (title "" as in production)."""
    page = next(p for p in load_pages() if p.url.endswith(url_tail))
    url = f"https://{urlsplit(page.url).hostname}/" if bare_url else page.url
    return enrich_page(PageInput(url=url, title="", text=page.text, lang=page.lang))


def test_a_transfer_window_page_is_about_the_transfer_window_not_january() -> None:
    result = _enrich("/football/transfer-window-explained")
    assert result.topic == "Transfer Window"
    assert "january" not in result.tags[:3]


def test_a_penalty_kick_page_is_about_the_penalty_kick_not_taking() -> None:
    result = _enrich("/features/how-to-take-a-penalty-kick")
    assert result.topic == "Penalty Kick"
    assert "taking" not in result.tags


def test_a_mortgage_rate_page_names_the_mortgage_in_its_topic() -> None:
    result = _enrich("/mortgages/fixed-vs-variable-rate")
    assert "mortgage" in result.topic.lower() and " " in result.topic


def test_a_meteor_shower_page_has_a_noun_phrase_topic_and_no_verb_tags() -> None:
    result = _enrich("/observing/meteor-showers-calendar")
    assert result.topic == "Meteor Showers"
    assert not {"happen", "left", "passes"} & set(result.tags)


def test_verbs_are_not_tags_even_without_a_slug() -> None:
    result = _enrich("/observing/meteor-showers-calendar", bare_url=True)
    assert not {"happen", "left", "passes"} & set(result.tags)
    assert 3 <= len(result.tags) <= 7


def test_the_slug_names_phrases_and_drops_generic_words_and_numbers() -> None:
    assert slug_runs("https://www.sky.example/football/transfer-window-explained") == [
        ["football"],
        ["transfer", "window"],
    ]
    assert slug_runs("https://docs.example/3/tutorial/index.html?x=1") == [
        ["tutorial"],
        ["index"],
    ]
    assert slug_runs("https://news.example/") == []


def test_a_word_mostly_said_inside_a_phrase_gives_way_to_the_phrase() -> None:
    text = (
        "Blood pressure rises with age. High blood pressure strains the heart. "
        "Measure your blood pressure at rest; the pressure in the cuff must not hurt."
    )
    ranked = rank_phrases(text, "https://health.example/", ["pressure", "blood", "heart"])
    assert ranked.topic == "blood pressure"


_NOUNS = ["kettle", "garden", "bicycle", "lantern", "harbour", "violin", "glacier", "orchard"]
_VERBS = ["happen", "arrive", "wander", "linger", "vanish"]
_WEAK = ["january", "monday", "thousand", "percent", "minutes"]


@st.composite
def _pages(draw: st.DrawFn) -> tuple[str, str]:
    """A text of determiner-noun sentences, with verbs and time/number words mixed in."""
    nouns = draw(st.lists(st.sampled_from(_NOUNS), min_size=1, max_size=4, unique=True))
    weak = draw(st.lists(st.sampled_from(_WEAK), max_size=2, unique=True))
    verbs = draw(st.lists(st.sampled_from(_VERBS), max_size=2, unique=True))
    sentences = [f"The {noun} was near the {draw(st.sampled_from(_NOUNS))}." for noun in nouns]
    sentences += [f"In {word} they {verb} often." for word in weak for verb in verbs or ["go"]]
    sentences += [f"{word.title()} {word} {word}." for word in weak]
    order = draw(st.permutations(sentences))
    slug = "-".join(draw(st.lists(st.sampled_from(_NOUNS + _VERBS), max_size=3)))
    return " ".join(order), f"https://site.example/{slug}"


@settings(max_examples=60, deadline=None)
@given(_pages())
def test_tags_are_three_to_seven_distinct_and_the_topic_is_never_a_time_or_number(
    page: tuple[str, str],
) -> None:
    text, url = page
    result = enrich_page(PageInput(url=url, title="", text=text))
    assert 3 <= len(result.tags) <= 7
    assert len({tuple(stem(w) for w in tag.split()) for tag in result.tags}) == len(result.tags)
    assert result.topic == title_case(result.tags[0])
    assert stem(result.topic.split()[-1].lower()) not in WEAK_HEADS
