"""The demo corpus is big and varied enough for the demo and the quality bench."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

from mindhit.corpus import load_pages, topics


def test_corpus_has_enough_pages_across_enough_topics() -> None:
    pages = load_pages()
    counts = Counter(page.topic for page in pages)
    assert len(pages) >= 40
    assert len(counts) >= 5
    assert min(counts.values()) >= 6
    assert topics() == list(counts)


def test_every_page_is_a_distinct_readable_https_page() -> None:
    pages = load_pages()
    assert len({page.url for page in pages}) == len(pages)
    for page in pages:
        parts = urlsplit(page.url)
        assert parts.scheme == "https" and parts.netloc
        assert page.title.strip()
        assert page.lang == "en"
        assert len(page.text.split()) >= 60, page.url
