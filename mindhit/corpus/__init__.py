"""The demo corpus: 48 short pages we wrote ourselves across six clearly different topics.

It exists so that ``mindhit demo`` can show a realistic session without the network, and
so the mind-map quality bench has pages with known topic labels to score against. The
pages live in ``pages.json`` next to this module (a data file shipped with the package).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import msgspec

__all__ = ["CorpusPage", "load_pages", "topics"]


class CorpusPage(msgspec.Struct, frozen=True, kw_only=True):
    """One demo page: its URL, title, topic label, language and readable text."""

    url: str
    title: str
    topic: str
    lang: str
    text: str


@cache
def _load() -> tuple[CorpusPage, ...]:
    raw = resources.files(__package__).joinpath("pages.json").read_bytes()
    return tuple(msgspec.json.decode(raw, type=list[CorpusPage]))


def load_pages() -> list[CorpusPage]:
    """All corpus pages, in file order (grouped by topic)."""
    return list(_load())


def topics() -> list[str]:
    """The distinct topic labels, in order of first appearance."""
    return list(dict.fromkeys(page.topic for page in _load()))
