"""The rule for a Redis that would lose acknowledged uploads on its next restart."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mindhit.redis_durability import RedisDurability, volatility


@given(st.booleans(), st.booleans(), st.integers(0, 3), st.integers(0, 3))
def test_volatile_exactly_when_nothing_persists_and_no_replica_is_waited_for(
    aof: bool, rdb: bool, replicas: int, wait: int
) -> None:
    found = RedisDurability(aof=aof, rdb_saves=rdb, replicas=replicas)
    kept = aof or rdb or (wait > 0 and replicas > 0)
    assert (volatility(found, wait) is None) == kept


def test_the_reason_names_what_is_missing_and_the_override() -> None:
    bare = RedisDurability(aof=False, rdb_saves=False, replicas=0)
    assert "no replicas" in (volatility(bare, 0) or "")
    assert "MINDHIT_ALLOW_VOLATILE_REDIS" in (volatility(bare, 0) or "")
    assert "no replica is connected" in (volatility(bare, 1) or "")
    unused = RedisDurability(aof=False, rdb_saves=False, replicas=2)
    assert "MINDHIT_WAIT_REPLICAS=0" in (volatility(unused, 0) or "")
