"""Idempotent appends on real Redis: a retry is a duplicate with its original entry, the
state stays bounded per client, and no user's batch ids meet another's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mindhit import streams
from mindhit.upload_log import (
    RECENT_BATCHES,
    AppendOutcome,
    AppendPolicy,
    LogEpochError,
    PendingAppend,
    RawPartition,
    UploadId,
    append_many,
    append_uploads,
    idempotency_key,
    remember_batch,
)
from schema.ids import uuid7
from tests.support.servers import PrivateRedis

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

POLICY = AppendPolicy(dedupe_ttl_s=3600)
RECORD_BYTES = 24


async def _append(
    redis: aioredis.Redis, target: RawPartition, uploads: list[UploadId]
) -> tuple[dict[int, int | None], int | None]:
    """Append like the gateway's writer: drop reported duplicates and run again.

    Returns the duplicates (index → original offset) and the new entry's offset.
    """
    duplicates: dict[int, int | None] = {}
    remaining = list(range(len(uploads)))
    while remaining:
        value = ",".join(uploads[i].batch_id for i in remaining).encode()
        outcome = await append_uploads(
            redis,
            target,
            value,
            epoch="*",
            uploads=[uploads[i] for i in remaining],
            timestamp_ms=1,
            policy=POLICY,
        )
        if outcome.offset is not None:
            return duplicates, outcome.offset
        found = dict(outcome.duplicates)
        duplicates |= {remaining[position]: offset for position, offset in found.items()}
        remaining = [i for position, i in enumerate(remaining) if position not in found]
    return duplicates, None


# one flush: (client, which batch) pairs; client 2 is another user than clients 0 and 1;
# which = -1 is a new batch, k >= 0 the client's k-th latest (or, for client 2, client
# 0's k-th latest batch id: another user's id)
_flushes = st.lists(
    st.lists(st.tuples(st.integers(0, 2), st.integers(-1, RECENT_BATCHES + 2)), max_size=4),
    min_size=1,
    max_size=25,
)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(flushes=_flushes)
async def test_a_retry_of_a_recent_batch_is_answered_with_its_entry_and_stored_once(
    aredis: aioredis.Redis, key_prefix: str, flushes: list[list[tuple[int, int]]]
) -> None:
    prefix = f"{key_prefix}-{uuid7()}"
    target = RawPartition.of(prefix, 0)
    alice, bob = uuid7(), uuid7()
    clients = [(alice, "laptop"), (alice, "phone"), (bob, "laptop")]
    sent: list[list[str]] = [[], [], []]  # batch ids each client sent, oldest first
    recent: list[dict[str, int | None]] = [{}, {}, {}]  # the model: last RECENT_BATCHES
    log: list[list[str]] = []  # the model of the stream: batch ids per entry
    for flush in flushes:
        uploads: list[UploadId] = []
        owners: list[int] = []
        for client, which in flush:
            history = sent[0 if client == 2 else client]
            batch = history[-1 - which] if 0 <= which < len(history) else uuid7()
            upload = UploadId(*clients[client], batch)
            if upload not in uploads:  # the coalescer's plan keeps one of each
                uploads.append(upload)
                owners.append(client)
        duplicates, offset = await _append(aredis, target, uploads)
        expected = {
            i: recent[owners[i]][u.batch_id]
            for i, u in enumerate(uploads)
            if u.batch_id in recent[owners[i]]
        }
        assert duplicates == expected
        appended = [i for i in range(len(uploads)) if i not in expected]
        assert (offset is None) == (not appended)
        if offset is not None:
            assert offset == len(log)
            log.append([uploads[i].batch_id for i in appended])
        for i in appended:
            client, batch = owners[i], uploads[i].batch_id
            sent[client].append(batch)
            recent[client][batch] = offset
            while len(recent[client]) > RECENT_BATCHES:
                del recent[client][next(iter(recent[client]))]
    records = await streams.read(aredis, {target.stream: 0}, count=10_000)
    assert [r.value.decode().split(",") for r in records] == log


async def test_the_state_is_one_bounded_key_per_client_whatever_it_sends(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    target = RawPartition.of(key_prefix, 3)
    user = uuid7()
    first = UploadId(user, "ext-1", uuid7())
    for upload in [first, *(UploadId(user, "ext-1", uuid7()) for _ in range(99))]:
        assert (await _append(aredis, target, [upload]))[0] == {}
    keys: list[Any] = [k async for k in aredis.scan_iter(match=f"{key_prefix}:*")]
    state = idempotency_key(key_prefix, 3, user, "ext-1")
    assert sorted(k.decode() for k in keys) == sorted([target.stream, target.epoch, state])
    assert await aredis.strlen(state) == RECENT_BATCHES * RECORD_BYTES
    assert 0 < await aredis.ttl(state) <= POLICY.dedupe_ttl_s
    # the first batch is out of the window now: a retry so late is stored again
    # (its events are then dropped downstream as (client_id, seq) duplicates)
    assert (await _append(aredis, target, [first]))[1] == 100


async def test_a_batch_remembered_without_an_entry_is_a_duplicate_after(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    upload = UploadId(uuid7(), "ext-1", uuid7())
    assert await remember_batch(aredis, key_prefix, 1, upload, POLICY)
    assert not await remember_batch(aredis, key_prefix, 1, upload, POLICY)
    target = RawPartition.of(key_prefix, 1)
    assert await _append(aredis, target, [upload]) == ({0: None}, None)
    assert await streams.highwater(aredis, target.stream) == 0


async def test_one_round_of_several_partitions_gives_each_its_own_outcome(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    """append_many: each partition's entry is appended, found duplicate or refused on
    its own, whatever the others' fate."""
    user = uuid7()
    targets = [RawPartition.of(key_prefix, p) for p in range(3)]
    earlier = UploadId(user, "ext-1", uuid7())
    for target in targets:  # every partition has an epoch and one entry
        await append_uploads(
            aredis, target, b"first", epoch="*", uploads=[earlier], timestamp_ms=1, policy=POLICY
        )
    epochs = [(await aredis.get(t.epoch)).decode() for t in targets]
    fresh = UploadId(user, "ext-1", uuid7())
    outcomes = await append_many(
        aredis,
        [
            PendingAppend(
                target=targets[0], value=b"new", epoch=epochs[0], uploads=[fresh], timestamp_ms=2
            ),
            PendingAppend(
                target=targets[1],
                value=b"again",
                epoch=epochs[1],
                uploads=[fresh, earlier],
                timestamp_ms=2,
            ),
            PendingAppend(
                target=targets[2], value=b"lost", epoch="other", uploads=[fresh], timestamp_ms=2
            ),
        ],
        POLICY,
    )
    assert outcomes[0] == AppendOutcome(1)
    assert outcomes[1] == AppendOutcome(None, ((1, 0),))  # nothing written
    assert isinstance(outcomes[2], LogEpochError)
    values = [
        [r.value for r in await streams.read(aredis, {t.stream: 0}, count=10)] for t in targets
    ]
    assert values == [[b"first", b"new"], [b"first"], [b"first"]]


async def test_a_round_after_redis_lost_its_scripts_appends_each_entry_once(
    tmp_path: Path,
) -> None:
    """append_many on a Redis that forgot the append script (a restart, ``SCRIPT FLUSH``):
    the refused calls did not run, so they are loaded and sent again, each written once;
    a retry after another flush finds them duplicates."""
    server = PrivateRedis(tmp_path)
    server.start()
    client = aioredis.Redis(port=server.port)
    try:
        targets = [RawPartition.of("mhnoscript", p) for p in range(2)]
        user = uuid7()
        uploads = [UploadId(user, f"ext-{p}", uuid7()) for p in range(2)]
        round_ = [
            PendingAppend(target=t, value=f"v{p}".encode(), epoch="*", uploads=[u], timestamp_ms=1)
            for p, (t, u) in enumerate(zip(targets, uploads, strict=True))
        ]
        await client.script_flush()
        assert await append_many(client, round_, POLICY) == [AppendOutcome(0), AppendOutcome(0)]
        await client.script_flush()
        again = await append_many(client, round_, POLICY)
        assert again == [AppendOutcome(None, ((0, 0),)), AppendOutcome(None, ((0, 0),))]
        values = [[r.value for r in await streams.read(client, {t.stream: 0})] for t in targets]
        assert values == [[b"v0"], [b"v1"]]
    finally:
        await client.aclose()
        server.stop()
