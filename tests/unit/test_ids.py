"""Identifier helpers: a deterministic id is the UUIDv5 layout of its inputs' digest."""

from __future__ import annotations

import hashlib
import uuid

from hypothesis import given
from hypothesis import strategies as st

from schema.ids import _NAMESPACE, deterministic_id, uuid7, uuid7_time_ms, visit_id

_part = st.one_of(st.text(max_size=40), st.integers(min_value=-(2**70), max_value=2**70))


@given(st.lists(_part, min_size=1, max_size=4))
def test_deterministic_id_is_the_uuid5_layout_of_the_digest(parts: list[str | int]) -> None:
    digest = hashlib.sha1(_NAMESPACE.bytes + "\x1f".join(map(str, parts)).encode()).digest()
    expected = str(uuid.UUID(bytes=digest[:16], version=5))
    got = deterministic_id(*parts)
    assert got == expected
    assert uuid.UUID(got).version == 5 and uuid.UUID(got).variant == uuid.RFC_4122


@given(st.text(max_size=40), st.text(max_size=40), st.integers(min_value=-(2**70), max_value=2**70))
def test_visit_id_is_the_deterministic_id_of_its_parts(user: str, client: str, seq: int) -> None:
    # The fold's fast path must name every visit as deterministic_id always has.
    assert visit_id(user, client, seq) == deterministic_id(user, client, seq)


def test_deterministic_id_is_stable() -> None:
    # Ids already stored in the read tables must keep naming the same visits.
    assert deterministic_id("u", "c", 7) == "0dcf42f8-c8cb-5205-a49a-b770a966ddb1"
    assert visit_id("u", "c", 7) == "0dcf42f8-c8cb-5205-a49a-b770a966ddb1"


@given(st.integers(min_value=0, max_value=2**48 - 1))
def test_uuid7_carries_its_time(ts_ms: int) -> None:
    assert uuid7_time_ms(uuid7(ts_ms)) == ts_ms
