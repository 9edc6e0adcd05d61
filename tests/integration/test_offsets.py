"""A group's offsets on real Redis: per-partition hashes, the legacy hash's one-shot move."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from mindhit.keys import epoch_field, legacy_offsets_key, offsets_key, tp_field
from mindhit.offsets import (
    clear_partition,
    load_committed,
    migrate_legacy,
    read_group_fields,
    save_committed,
)

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


async def test_legacy_offsets_are_read_until_moved_once_and_newer_commits_win(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    legacy = legacy_offsets_key(key_prefix, "g")
    await aredis.hset(
        legacy,
        mapping={
            tp_field("raw", 0): 10,
            tp_field("visits", 0): 4,
            epoch_field(0): "e0",
            tp_field("raw", 1): 20,
            tp_field("raw", 2): 30,
            "lease.member": "old-worker",
        },
    )
    # Partition 1 was committed under the new layout since: its legacy fields are stale.
    await save_committed(aredis, key_prefix, "g", {("raw", 1): 25})
    before = {("raw", 0): 10, ("visits", 0): 4, ("raw", 1): 25, ("raw", 2): 30}
    assert await load_committed(aredis, key_prefix, "g", 4) == before
    assert (await read_group_fields(aredis, key_prefix, "g", 4))[b"epoch.p0"] == b"e0"

    # raw:1 is not copied (the newer commit stays), nor is the lease field.
    assert await migrate_legacy(aredis, key_prefix, "g") == 4
    assert not await aredis.exists(legacy)
    assert await load_committed(aredis, key_prefix, "g", 4) == before
    assert await aredis.hgetall(offsets_key(key_prefix, "g", 0)) == {
        b"raw:0": b"10",
        b"visits:0": b"4",
        b"epoch.p0": b"e0",
    }
    assert await migrate_legacy(aredis, key_prefix, "g") == 0  # once only


async def test_clearing_a_partition_forgets_it_in_both_layouts(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    await save_committed(aredis, key_prefix, "g", {("raw", 0): 5, ("raw", 1): 6})
    await aredis.hset(
        legacy_offsets_key(key_prefix, "g"),
        mapping={tp_field("raw", 1): 3, epoch_field(1): "e", tp_field("raw", 2): 7},
    )
    await clear_partition(aredis, key_prefix, "g", 1)
    await migrate_legacy(aredis, key_prefix, "g")  # cannot bring partition 1 back
    assert await load_committed(aredis, key_prefix, "g", 3) == {("raw", 0): 5, ("raw", 2): 7}
