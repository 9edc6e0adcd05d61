"""What of a visit the tables can take: ints in int4, titles and domains that fit a key."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mindhit.storable_visit import (
    DOMAIN_BYTES,
    TITLE_BYTES,
    TITLE_CHARS,
    storable_domain,
    storable_domains,
    storable_tab_ids,
    storable_title,
    storable_titles,
)

WIDE = st.characters(codec="utf-8", exclude_characters="\x00")
titles = st.one_of(st.text(WIDE, max_size=700), st.text(st.sampled_from("aé中😀"), max_size=2048))
BTREE_ENTRY = 2704


@given(titles)
def test_a_title_fits_a_key_and_is_kept_whole_when_it_does(title: str) -> None:
    stored = storable_title(title)
    assert len(stored.encode()) <= TITLE_BYTES < BTREE_ENTRY - 16 - 2 * 65
    assert stored == (title if len(title.encode()) <= TITLE_BYTES else title[:TITLE_CHARS])
    assert storable_titles([title, "short"]) == [stored, "short"]


@given(st.text(st.sampled_from("a.é中"), max_size=600))
def test_a_domain_fits_a_key_and_is_kept_whole_when_it_does(domain: str) -> None:
    stored = storable_domain(domain)
    assert len(stored.encode()) <= 4 * DOMAIN_BYTES < BTREE_ENTRY
    assert stored == (domain if len(domain.encode()) <= DOMAIN_BYTES else domain[:DOMAIN_BYTES])
    assert storable_domains([domain]) == [stored]


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=5))
def test_a_tab_id_beyond_int4_is_no_tab(tab_ids: list[int]) -> None:
    stored = storable_tab_ids(tab_ids)
    assert stored == [t if -(2**31) <= t < 2**31 else -1 for t in tab_ids]
