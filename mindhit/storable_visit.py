"""What of a visit PostgreSQL can store and index: a tab id in int4, a title and a domain
that fit a btree entry (pure).

Clients send these values (the gateway takes any int64 tab id, titles of up to 2,048
characters, URLs of up to 8,192), and a value the tables cannot take would fail every
batch that carries it, for every user of its partitions, at every restart:

- ``page_visits.tab_id`` is an ``integer``, and psycopg's int4 dumper wraps a larger one
  silently into another number: beyond int4 it is -1, no tab known.
- a title is part of ``page_titles``' primary key and a domain of the overview's
  (``overview_domains``, ``overview_domains_monthly``); a btree entry holds at most 2,704
  bytes ("index row size exceeds btree version 4 maximum"). A title of more than
  :data:`TITLE_BYTES` bytes of UTF-8 keeps its first :data:`TITLE_CHARS` characters (at
  most 4 bytes each), a domain of more than :data:`DOMAIN_BYTES` (no DNS name is longer)
  its first :data:`DOMAIN_BYTES` characters.

The projector applies the same rule in SQL to staged COPY rows
(:data:`STAGED_FIXES`), so every path stores one value.
"""

from __future__ import annotations

from typing import Final

import msgspec

from schema.derived import VisitClosed

__all__ = [
    "DOMAIN_BYTES",
    "INT4_MAX",
    "INT4_MIN",
    "STAGED_FIXES",
    "STAGED_OVERSIZE",
    "TITLE_BYTES",
    "TITLE_CHARS",
    "storable_domain",
    "storable_domains",
    "storable_tab_ids",
    "storable_title",
    "storable_titles",
    "storable_visit",
]

INT4_MIN: Final = -(2**31)
INT4_MAX: Final = 2**31 - 1
TITLE_BYTES: Final = 2400
TITLE_CHARS: Final = 600
DOMAIN_BYTES: Final = 253

STAGED_OVERSIZE: Final = (
    f"octet_length(title) > {TITLE_BYTES} OR octet_length(domain) > {DOMAIN_BYTES}"
)
"""SQL: whether a staged visit's title or domain is beyond what the tables index."""
STAGED_FIXES: Final = (
    f"title = CASE WHEN octet_length(title) > {TITLE_BYTES} THEN left(title, {TITLE_CHARS})"
    " ELSE title END,"
    f" domain = CASE WHEN octet_length(domain) > {DOMAIN_BYTES}"
    f" THEN left(domain, {DOMAIN_BYTES}) ELSE domain END"
)
"""SQL ``SET`` list: :func:`storable_title` and :func:`storable_domain` of a staged visit."""


def storable_title(title: str) -> str:
    """``title``, or its first :data:`TITLE_CHARS` characters when its UTF-8 is longer
    than :data:`TITLE_BYTES` bytes."""
    if len(title) <= TITLE_CHARS or len(title.encode()) <= TITLE_BYTES:
        return title
    return title[:TITLE_CHARS]


def storable_domain(domain: str) -> str:
    """``domain``, or its first :data:`DOMAIN_BYTES` characters when its UTF-8 is longer
    than :data:`DOMAIN_BYTES` bytes."""
    if len(domain) <= DOMAIN_BYTES // 4 or len(domain.encode()) <= DOMAIN_BYTES:
        return domain
    return domain[:DOMAIN_BYTES]


def storable_visit(visit: VisitClosed) -> VisitClosed:
    """``visit``, or a copy with its tab id, title and domain storable (module doc)."""
    title, domain = storable_title(visit.title), storable_domain(visit.domain)
    tab_id = visit.tab_id if INT4_MIN <= visit.tab_id <= INT4_MAX else -1
    if tab_id == visit.tab_id and title is visit.title and domain is visit.domain:
        return visit
    return msgspec.structs.replace(visit, tab_id=tab_id, title=title, domain=domain)


def storable_tab_ids(tab_ids: list[int]) -> list[int]:
    """``tab_ids`` with every one beyond int4 as -1."""
    if not tab_ids or (min(tab_ids) >= INT4_MIN and max(tab_ids) <= INT4_MAX):
        return tab_ids
    return [t if INT4_MIN <= t <= INT4_MAX else -1 for t in tab_ids]


def storable_titles(titles: list[str]) -> list[str]:
    """:func:`storable_title` of each of ``titles`` (the list itself when all are)."""
    if max(map(len, titles), default=0) <= TITLE_CHARS:
        return titles
    return list(map(storable_title, titles))


def storable_domains(domains: list[str]) -> list[str]:
    """:func:`storable_domain` of each of ``domains`` (the list itself when all are)."""
    if max(map(len, domains), default=0) <= DOMAIN_BYTES // 4:
        return domains
    return list(map(storable_domain, domains))
