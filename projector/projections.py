"""The projections: which topics each one folds and which read tables it owns.

Each topic feeds exactly one projection, so a projection's checkpoint rows
(``projection_checkpoints``) name exactly the streams it consumed. ``replay
--projection NAME`` rebuilds only that projection's tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import msgspec

from mindhit.keys import TP
from mindhit.settings import Settings
from schema.topics import (
    DERIVED_TOPICS,
    RAW_TOPIC,
    SESSIONS_TOPIC,
    URLS_TOPIC,
    VISITS_TOPIC,
    stream_key,
)

__all__ = [
    "ARCHIVED_TOPICS",
    "ARCHIVER",
    "PROJECTIONS",
    "ROLLUP_TABLES",
    "Projection",
    "projection_of_topic",
    "stream_ids",
    "tables_of",
]

ARCHIVER: Final = "archiver"
"""The checkpoint name of the archiver (``projection_checkpoints.projection``)."""

ARCHIVED_TOPICS: Final = (RAW_TOPIC, *DERIVED_TOPICS)


class Projection(msgspec.Struct, frozen=True):
    """A named set of read tables and the topics folded into them.

    ``rollups`` are tables kept equal to aggregates of the projection's read tables
    (the overview's, :mod:`projector.overview`): not staged from row operations, but
    rebuilt and swapped by replay with the tables they sum.
    """

    name: str
    topics: tuple[str, ...]
    tables: tuple[str, ...]
    rollups: tuple[str, ...] = ()


PROJECTIONS: Final[dict[str, Projection]] = {
    p.name: p
    for p in (
        Projection(
            "sessions",
            (RAW_TOPIC, SESSIONS_TOPIC),
            ("sessions", "mindmap_graphs"),
            rollups=("overview_branches",),
        ),
        Projection(
            "visits",
            (VISITS_TOPIC,),
            ("page_visits",),
            rollups=(
                "overview_days",
                "overview_domains",
                "overview_domains_monthly",
                "overview_pages_monthly",
                "page_titles",
            ),
        ),
        Projection("urls", (URLS_TOPIC,), ("urls", "page_texts")),
    )
}

_BY_TOPIC: dict[str, str] = {t: p.name for p in PROJECTIONS.values() for t in p.topics}


def projection_of_topic(topic: str) -> str:
    """The projection that folds ``topic``."""
    return _BY_TOPIC[topic]


ROLLUP_TABLES: Final = tuple(t for p in PROJECTIONS.values() for t in p.rollups)
"""Every rollup table (the overview's)."""


def tables_of(names: tuple[str, ...]) -> tuple[str, ...]:
    """Every read table and rollup of the given projections (what replay rebuilds)."""
    return tuple(t for n in names for t in (*PROJECTIONS[n].tables, *PROJECTIONS[n].rollups))


def stream_ids(settings: Settings, topics: Iterable[str]) -> dict[str, TP]:
    """Redis key → (topic, partition) for every partition of ``topics``."""
    return {
        stream_key(settings.key_prefix, topic, p): (topic, p)
        for topic in topics
        for p in range(settings.partitions)
    }
