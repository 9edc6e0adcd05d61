"""Raw entries handled several per call give what handling them one at a time gives.

The ``dwell`` agent hands the handler every entry already waiting (up to a maximum),
sharing the Redis round trips; the derived log must not tell: one derived entry per
topic and raw entry, with that entry's offset as origin, the same events in the same
order, each URL version announced once (by the first entry that brings it), the same
saved states, and a
batch retried after a failed send or a poison entry in it loses nothing.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence

import msgspec
import pytest
import redis.asyncio as aioredis
import redis.exceptions

from mindhit.settings import Settings
from processors.agents import in_order
from processors.agents.reliable import handle_batch_reliably
from processors.dwell import UserState
from schema.derived import SessionClosed, VisitClosed
from schema.events import ClientEvent
from schema.log import RawEntry, Upload, decode_derived_entry, encode_raw_entry
from schema.topics import SESSIONS_TOPIC, URLS_TOPIC, VISITS_TOPIC, stream_key
from tests.integration.processors.pipeline import Pipeline
from tests.unit.processors.browsing import Browser

pytestmark = pytest.mark.integration

SID = "0190a0b0-0000-7000-8000-0000000000f1"
TEXT = "A page about espresso grinders and how fine to grind."


def _entry(uploads: list[tuple[str, list[ClientEvent]]], received_at: int = 5) -> bytes:
    return encode_raw_entry(
        RawEntry(
            uploads=[
                Upload(
                    batch_id=f"b{i}",
                    user_id=user,
                    client_id=f"c-{user}",
                    received_at=received_at,
                    events=events,
                )
                for i, (user, events) in enumerate(uploads)
            ]
        )
    )


def _script() -> list[bytes]:
    """Six entries of two users; the same page (and text) read by both, in several entries."""
    ann, bob = Browser("c-ann", SID), Browser("c-bob", SID.replace("f1", "f2"))
    ann.start()
    ann.activate(1, "https://a.example/grinders")
    ann.content(1, "https://a.example/grinders", TEXT)
    bob.start()
    bob.activate(4, "https://a.example/grinders")
    entries: list[list[tuple[str, list[ClientEvent]]]] = []
    taken = {"ann": 0, "bob": 0}

    def cut() -> None:
        entries.append(
            [
                (user, b.events[taken[user] :])
                for user, b in (("ann", ann), ("bob", bob))
                if b.events[taken[user] :]
            ]
        )
        taken["ann"], taken["bob"] = len(ann.events), len(bob.events)

    cut()
    ann.wait(4_000).activate(2, "https://b.example/")
    bob.wait(3_000).content(4, "https://a.example/grinders", TEXT)
    cut()
    bob.wait(2_000).activate(5, "https://b.example/")
    cut()
    ann.wait(6_000).activate(3, "https://c.example/")
    ann.wait(1_000).navigate(3, "https://c.example/next")
    cut()
    bob.wait(5_000).stop()
    cut()
    ann.wait(2_000).stop()
    cut()
    return [_entry(uploads) for uploads in entries]


async def _derived(pipe: Pipeline, topic: str) -> list[tuple[int, list[object]]]:
    key = stream_key(pipe.settings.key_prefix, topic, 0)
    found = []
    for _id, fields in await pipe.redis.xrange(key):
        entry = decode_derived_entry(fields[b"v"])
        found.append((entry.origin, [msgspec.to_builtins(e) for e in entry.events]))
    return found


def _other(settings: Settings, suffix: str) -> Settings:
    return msgspec.structs.replace(settings, key_prefix=f"{settings.key_prefix}:{suffix}")


@pytest.mark.parametrize("size", [2, 3, 6])
async def test_a_batch_derives_what_one_entry_at_a_time_derives(
    aredis: aioredis.Redis, settings: Settings, size: int
) -> None:
    values = _script()
    one = Pipeline(aredis, _other(settings, "one"))
    many = Pipeline(aredis, _other(settings, "many"))
    for offset, value in enumerate(values):
        await one.raw.handle(0, value, offset)
    entries = list(enumerate(values))
    for start in range(0, len(entries), size):
        await many.raw.handle_many(0, entries[start : start + size])

    for topic in (VISITS_TOPIC, URLS_TOPIC, SESSIONS_TOPIC):
        assert await _derived(many, topic) == await _derived(one, topic), topic
    visits = await _derived(many, VISITS_TOPIC)
    assert [origin for origin, _ in visits] == [1, 2, 3, 4, 5]  # one entry per raw entry
    urls = [event for _, events in await _derived(many, URLS_TOPIC) for event in events]
    versions = [(u["url_hash"], u["content_hash"]) for u in urls]  # type: ignore[index]
    assert len(versions) == len(set(versions)) == 5  # each announced once, though read twice
    assert many.states.users_in_memory == one.states.users_in_memory == 0
    saved = [await aredis.hgetall(p.states.keys(0)[0]) for p in (one, many)]  # type: ignore[misc]
    assert saved[0] == saved[1] and set(saved[0]) == {b"ann", b"bob"}  # the same state bytes


class FailingSends:
    """An emit whose sends numbered in ``failing`` (from 0) fail as Redis would (not stored)."""

    def __init__(self, pipe: Pipeline, failing: set[int]) -> None:
        self._pipe = pipe
        self.failing = failing
        self.sent = 0

    async def __call__(self, topic: str, partition: int, value: bytes) -> None:
        number, self.sent = self.sent, self.sent + 1
        if number in self.failing:
            raise redis.exceptions.ConnectionError("injected: connection reset by peer")
        await self._pipe.emit(topic, partition, value)


async def _no_wait(_seconds: float) -> None:
    return None


@pytest.mark.parametrize("failing", [{2}, {3, 5}, {2, 3, 4}])
async def test_a_batch_retried_after_a_failed_send_sends_every_visit_once(
    aredis: aioredis.Redis, settings: Settings, failing: set[int]
) -> None:
    """A send fails midway (some of the batch's entries stored): the retry folds from the
    states as they were, so no visit is lost, and every repeat is the same entry again."""
    values = _script()
    pipe = Pipeline(aredis, settings)
    entries = list(enumerate(values))
    assert await handle_batch_reliably("dwell", pipe.raw.handle_many, 0, entries[:2]) == 2
    sends = FailingSends(pipe, failing)  # the batch's first sends are stored, then one fails
    pipe.raw._enqueue = in_order(sends)
    handled = await handle_batch_reliably(
        "dwell", pipe.raw.handle_many, 0, entries[2:], sleep=_no_wait
    )
    assert handled == len(entries) - 2 and sends.sent > max(failing)

    clean = Pipeline(aredis, _other(settings, "clean"))
    for offset, value in entries:
        await clean.raw.handle(0, value, offset)
    visits = {v.visit_id: v for v in await pipe.derived(VISITS_TOPIC) if isinstance(v, VisitClosed)}
    expected = [v for v in await clean.derived(VISITS_TOPIC) if isinstance(v, VisitClosed)]
    assert sorted(visits.values(), key=lambda v: v.visit_id) == sorted(
        expected, key=lambda v: v.visit_id
    )
    closed = [c for c in await pipe.derived(SESSIONS_TOPIC) if isinstance(c, SessionClosed)]
    assert {c.session_id: c.active_ms for c in closed} == {
        c.session_id: c.active_ms
        for c in await clean.derived(SESSIONS_TOPIC)
        if isinstance(c, SessionClosed)
    }


async def test_a_poison_entry_in_a_batch_skips_only_itself(
    aredis: aioredis.Redis, settings: Settings
) -> None:
    values = _script()
    pipe = Pipeline(aredis, settings)
    handled: list[int] = []

    async def handle(partition: int, entries: Sequence[tuple[int, bytes]]) -> None:
        if any(offset == 2 for offset, _ in entries):
            raise ValueError("a shape the handler cannot process")
        await pipe.raw.handle_many(partition, entries)
        handled.extend(offset for offset, _ in entries)

    entries = list(enumerate(values))
    assert await handle_batch_reliably("dwell", handle, 0, entries[:4]) == 3
    assert handled == [0, 1, 3]


async def test_each_entry_is_decoded_right_before_its_fold_with_one_load_at_most(
    aredis: aioredis.Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """States in memory: each entry decoded just before its fold (its events still in the
    CPU's cache), no round trip to load; states not all there: one load for the call."""
    from processors.agents import raw

    values = _script()
    steps: list[str] = []
    decode, fold = raw.decode_raw_entry, raw.fold_entry

    def decoding(value: bytes) -> RawEntry:
        steps.append("decode")
        return decode(value)

    def folding(*args: object) -> raw.EntryFold:
        steps.append("fold")
        return fold(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(raw, "decode_raw_entry", decoding)
    monkeypatch.setattr(raw, "fold_entry", folding)
    warm, cold = Pipeline(aredis, settings), Pipeline(aredis, _other(settings, "cold"))
    loads: list[list[str]] = []
    for pipe in (warm, cold):
        load = pipe.states.load

        async def counted(partition: int, users: Sequence[str], load=load) -> object:  # type: ignore[no-untyped-def]
            loads.append(list(users))
            return await load(partition, users)

        monkeypatch.setattr(pipe.states, "load", counted)
    entries = list(enumerate(values))
    await warm.raw.handle_many(0, entries[:1])  # ann and bob in their open sessions
    steps.clear(), loads.clear()
    await warm.raw.handle_many(0, entries[1:4])
    assert steps == ["decode", "fold"] * 3 and loads == []
    await cold.raw.handle_many(0, entries[:3])
    assert steps[6:] == ["decode"] * 3 + ["fold"] * 3 and loads == [["ann", "bob"]]
    for topic in (VISITS_TOPIC, URLS_TOPIC, SESSIONS_TOPIC):  # the same outputs either way
        assert (await _derived(cold, topic))[:2] == (await _derived(warm, topic))[:2], topic


async def test_the_new_states_are_let_go_once_encoded_before_anything_is_sent(
    aredis: aioredis.Redis, settings: Settings
) -> None:
    """Each entry's new states are encoded right after its fold and let go then, while in
    the CPU's cache (kept to the end of the call, ~2 MB of them left it first): when the
    derived entries are sent, no state of the call is alive, and a user in a later entry
    of the call folds from the encoding. The saved states are the same either way."""
    values = _script()
    pipe = Pipeline(aredis, settings)
    alive: list[int] = []
    gc.collect()
    before = {id(o) for o in gc.get_objects() if type(o) is UserState}  # other tests' states

    async def counting(topic: str, partition: int, value: bytes) -> None:
        alive.append(sum(type(o) is UserState and id(o) not in before for o in gc.get_objects()))
        await pipe.emit(topic, partition, value)

    pipe.raw._enqueue = in_order(counting)
    entries = list(enumerate(values))
    await pipe.raw.handle_many(0, entries[:4])  # ann and bob in all four
    assert alive and max(alive) == 0

    one = Pipeline(aredis, _other(settings, "one"))
    for offset, value in entries[:4]:
        await one.raw.handle(0, value, offset)
    saved = [await aredis.hgetall(p.states.keys(0)[0]) for p in (one, pipe)]  # type: ignore[misc]
    assert saved[0] == saved[1] and set(saved[0]) == {b"ann", b"bob"}


async def test_a_user_in_consecutive_entries_of_a_call_is_not_encoded_once_an_entry(
    aredis: aioredis.Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catch-up brings a user's uploads in entry after entry: their state is decoded
    and encoded for the first (as any user's), decoded for the second, folded in place
    by the next ones and encoded once the run ends (here: the call's end), not once an
    entry. The same outputs and saved states."""
    from processors import dwell
    from processors.agents import raw

    ann = Browser("c-ann", SID)
    ann.start()
    ann.activate(1, "https://a.example/")
    values = [_entry([("ann", list(ann.events))])]
    for tab, host in enumerate("bcde"):
        taken = len(ann.events)
        ann.wait(3_000).activate(2 + tab, f"https://{host}.example/")
        values.append(_entry([("ann", ann.events[taken:])]))
    pipe, one = Pipeline(aredis, settings), Pipeline(aredis, _other(settings, "one"))
    entries = list(enumerate(values))
    await pipe.raw.handle_many(0, entries[:1])  # ann in memory, in an open session
    calls = {"decode": 0, "encode": 0}
    decode, encode = dwell.decode_state, raw.encode_state

    def decoding(data: bytes) -> UserState:
        calls["decode"] += 1
        return decode(data)

    def encoding(state: UserState) -> bytes:
        calls["encode"] += 1
        return encode(state)

    monkeypatch.setattr(dwell, "decode_state", decoding)
    monkeypatch.setattr(raw, "encode_state", encoding)
    await pipe.raw.handle_many(0, entries[1:])  # ann in all four
    assert calls == {"decode": 2, "encode": 2}
    monkeypatch.undo()
    for offset, value in entries:
        await one.raw.handle(0, value, offset)
    assert len(await _derived(pipe, VISITS_TOPIC)) == 4
    for topic in (VISITS_TOPIC, URLS_TOPIC, SESSIONS_TOPIC):
        assert await _derived(pipe, topic) == await _derived(one, topic), topic
    saved = [await aredis.hgetall(p.states.keys(0)[0]) for p in (one, pipe)]  # type: ignore[misc]
    assert saved[0] == saved[1] and set(saved[0]) == {b"ann"}
