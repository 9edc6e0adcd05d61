"""The dwell state's bounded life and its fenced saves, on a real Redis.

Each save notes when it wrote a user's state and removes the state of users not saved
for the state's life; a user from before that note is listed as saved now; a late upload
after the state expired is late, as for a stopped session (its stop marks the session
failed); a worker that lost the partition's lease cannot save (``FENCED``), and the
reliable wrapper skips that entry without counting it as failed.
"""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import pytest
import redis.asyncio as aioredis
import redis.exceptions

from mindhit.keys import partition_lease_key
from mindhit.settings import Settings
from processors.agents import in_order
from processors.agents.raw import RawHandler
from processors.agents.reliable import FAILED_ENTRIES, handle_reliably
from processors.content import ContentStore
from processors.dwell import UserState, encode_state
from processors.dwell_state import late_session_failed
from processors.state import StateStore, dwell_ttl_ms
from schema.ids import uuid7
from schema.log import RawEntry, Upload, decode_derived_entry, encode_raw_entry
from tests.unit.processors.browsing import Browser

pytestmark = pytest.mark.integration

SID = "0190a0b0-0000-7000-8000-0000000000c1"


async def _users(redis: aioredis.Redis, store: StateStore, partition: int) -> set[str]:
    state, written = store.keys(partition)
    found = {k.decode() for k in await redis.hkeys(state)}  # type: ignore[misc]
    listed = {m.decode() for m in await redis.zrange(written, 0, -1)}
    assert found == listed
    return found


async def test_a_users_state_expires_its_life_after_their_last_save(
    settings: Settings, aredis: aioredis.Redis
) -> None:
    store = StateStore(aredis, settings.key_prefix, ttl_ms=400)
    await store.save(0, {"ann": UserState()})
    await asyncio.sleep(0.25)
    await store.save(0, {"bob": UserState()})
    assert await _users(aredis, store, 0) == {"ann", "bob"}
    await asyncio.sleep(0.25)
    await store.save(0, {"bob": UserState()})  # ann: 0.5 s since her save
    assert await _users(aredis, store, 0) == {"bob"}
    assert (await store.load(0, ["ann"]))["ann"] is None


async def test_a_save_of_more_users_than_one_write_takes_keeps_every_one(
    settings: Settings, aredis: aioredis.Redis
) -> None:
    """The script writes up to 500 users per command: a larger save writes them all."""
    store = StateStore(aredis, settings.key_prefix, ttl_ms=60_000)
    states = {f"user-{i}": UserState(stopped=[f"s{i}"]) for i in range(1_201)}
    await store.save(0, states)
    assert await _users(aredis, store, 0) == set(states)
    loaded = await store.load(0, list(states))
    assert loaded == {user: encode_state(state) for user, state in states.items()}


async def test_users_saved_before_the_note_are_listed_as_saved_now(
    settings: Settings, aredis: aioredis.Redis
) -> None:
    store = StateStore(aredis, settings.key_prefix, ttl_ms=60_000)
    state, written = store.keys(1)
    await aredis.hset(state, mapping={"old": encode_state(UserState())})  # type: ignore[misc]
    found = await store.load(1, ["old"])
    assert found["old"] is not None
    assert await aredis.zscore(written, "old") is not None


async def test_a_late_upload_after_the_state_expired_is_late(
    settings: Settings, aredis: aioredis.Redis
) -> None:
    fast = msgspec.structs.replace(settings, session_idle_close_s=1.0)  # life: 84 s
    store = StateStore(aredis, settings.key_prefix, ttl_ms=dwell_ttl_ms(fast))
    emitted: list[bytes] = []

    async def emit(topic: str, partition: int, value: bytes) -> None:
        emitted.append(value)

    raw = RawHandler(
        store,
        ContentStore(aredis, settings.key_prefix),
        in_order(emit),
        state_ttl_ms=dwell_ttl_ms(fast),
    )
    user = str(uuid.uuid4())
    b = Browser("laptop", SID, ts=1_000_000)
    b.start()
    b.activate(1, "https://a.example/")
    b.wait(5_000).activate(2, "https://b.example/")
    b.wait(5_000).stop()

    def entry(events: list[object], received_at: int) -> bytes:
        upload = Upload(
            batch_id=uuid7(),
            user_id=user,
            client_id="laptop",
            received_at=received_at,
            events=events,  # type: ignore[arg-type]
        )
        return encode_raw_entry(RawEntry(uploads=[upload]))

    # On time: received as recorded; folds into visits and a closed session.
    await raw.handle(2, entry(b.events[:-1], b.ts), 0)
    assert emitted
    # The same session's upload received long after the state's life (and the state gone):
    store.forget()
    await aredis.hdel(store.keys(2)[0], user)  # type: ignore[misc]
    emitted.clear()
    await raw.handle(2, entry(b.events[-1:], b.ts + 10 * dwell_ttl_ms(fast)), 1)
    # Nothing folds; the stop only marks the session failed (it will get no mind map).
    (value,) = emitted
    assert decode_derived_entry(value).events == [late_session_failed(user, SID, b.ts)]


async def test_a_worker_that_lost_the_lease_cannot_save_and_the_entry_is_skipped(
    settings: Settings, aredis: aioredis.Redis
) -> None:
    lease = partition_lease_key(settings.key_prefix, "mindhit-processors", 3)
    store = StateStore(aredis, settings.key_prefix, fence=lambda p: (lease, "worker-a"))
    await aredis.hset(lease, "lease.member", "worker-b")  # type: ignore[misc]
    with pytest.raises(redis.exceptions.ResponseError, match="FENCED"):
        await store.save(3, {"ann": UserState()})
    assert await aredis.hlen(store.keys(3)[0]) == 0  # type: ignore[misc]
    failed = FAILED_ENTRIES.labels("raw")._value.get()

    async def handle(partition: int, value: bytes) -> None:
        await store.save(partition, {"ann": UserState()})

    assert not await handle_reliably("raw", handle, 3, b"")
    assert FAILED_ENTRIES.labels("raw")._value.get() == failed  # not a failed entry
    await aredis.hset(lease, "lease.member", "worker-a")  # type: ignore[misc]
    await store.save(3, {"ann": UserState()})
    assert await aredis.hexists(store.keys(3)[0], "ann")  # type: ignore[misc]


async def test_a_fenced_save_leaves_the_new_owners_state_as_it_was(
    settings: Settings, aredis: aioredis.Redis
) -> None:
    lease = partition_lease_key(settings.key_prefix, "mindhit-processors", 4)
    owner = StateStore(aredis, settings.key_prefix, fence=lambda p: (lease, "worker-b"))
    late = StateStore(aredis, settings.key_prefix, fence=lambda p: (lease, "worker-a"))
    await aredis.hset(lease, "lease.member", "worker-b")  # type: ignore[misc]
    await owner.save(4, {"ann": UserState(), "bob": UserState()})
    state, written = owner.keys(4)
    before = (await aredis.hgetall(state), await aredis.zrange(written, 0, -1, withscores=True))  # type: ignore[misc]
    marks: list[str] = []

    def also(pipe: object) -> None:  # what else the handler writes in the save's round trip
        marks.append("queued")
        pipe.set(f"{settings.key_prefix}:also", b"1")  # type: ignore[attr-defined]

    with pytest.raises(redis.exceptions.ResponseError, match="FENCED"):
        await late.save(
            4, {"ann": UserState(), "cid": UserState()}, also, {"ann": b"x", "cid": b"y"}
        )
    after = (await aredis.hgetall(state), await aredis.zrange(written, 0, -1, withscores=True))  # type: ignore[misc]
    assert after == before
    assert [k async for k in aredis.scan_iter(match=f"{state}*")] == [state.encode()]
    assert marks == ["queued"] and await aredis.get(f"{settings.key_prefix}:also") == b"1"
