"""Coalescing: uploads for one partition share an entry; each is answered after it is written."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.coalescer import AppendResult, Coalescer, Submission, plan_flush
from schema.log import Upload


def _upload(batch: str, user: str = "u1", n: int = 1) -> Upload:
    return Upload(batch_id=batch, user_id=user, client_id="c", received_at=0, events=[])


class FakeLog:
    """An in-memory writer that records the flushes it was asked to write."""

    def __init__(self, delay: float = 0.0, fail: BaseException | None = None) -> None:
        self.flushes: list[tuple[int, list[str]]] = []
        self.seen: set[tuple[str, str, str]] = set()
        self.delay = delay
        self.fail = fail

    async def write(self, partition: int, leaders: list[Submission]) -> list[AppendResult]:
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        self.flushes.append((partition, [s.upload.batch_id for s in leaders]))
        results = []
        for s in leaders:
            duplicate = s.identity in self.seen
            self.seen.add(s.identity)
            results.append(AppendResult(duplicate, None if duplicate else len(self.flushes) - 1))
        return results


@given(st.lists(st.tuples(st.sampled_from("ab"), st.sampled_from("xyz")), max_size=30))
def test_a_flush_plan_keeps_one_upload_per_user_and_batch(items: list[tuple[str, str]]) -> None:
    loop = asyncio.new_event_loop()
    try:
        subs = [Submission(_upload(batch, user), 1, loop.create_future()) for user, batch in items]
    finally:
        loop.close()
    plan = plan_flush(subs)
    identities = [s.identity for s in plan.leaders]
    assert len(identities) == len(set(identities)) == len({(u, b) for u, b in items})
    followers = [f for group in plan.followers.values() for f in group]
    assert len(plan.leaders) + len(followers) == len(subs)
    for index, group in plan.followers.items():
        assert all(f.identity == plan.leaders[index].identity for f in group)


async def test_uploads_arriving_within_the_linger_share_one_entry() -> None:
    log = FakeLog()
    coalescer = Coalescer(log.write, linger_s=0.02)
    results = await asyncio.gather(
        *(coalescer.submit(3, _upload(f"b{i}"), 1) for i in range(10)),
        coalescer.submit(5, _upload("other"), 1),
    )
    assert sorted(log.flushes) == [(3, [f"b{i}" for i in range(10)]), (5, ["other"])]
    assert all(not r.duplicate for r in results)


async def test_a_duplicate_inside_one_flush_is_answered_as_duplicate() -> None:
    log = FakeLog()
    coalescer = Coalescer(log.write, linger_s=0.01)
    results = await asyncio.gather(*(coalescer.submit(0, _upload("same"), 1) for _ in range(3)))
    assert log.flushes == [(0, ["same"])]
    assert sorted(r.duplicate for r in results) == [False, True, True]
    assert {r.offset for r in results} == {0}


async def test_uploads_arriving_during_a_write_go_into_the_next_entry() -> None:
    log = FakeLog(delay=0.05)
    coalescer = Coalescer(log.write, linger_s=0.0)
    first = asyncio.ensure_future(coalescer.submit(0, _upload("a"), 1))
    await asyncio.sleep(0.01)
    rest = [asyncio.ensure_future(coalescer.submit(0, _upload(b), 1)) for b in "bcd"]
    await asyncio.gather(first, *rest)
    assert log.flushes == [(0, ["a"]), (0, ["b", "c", "d"])]


async def test_uploads_arriving_during_a_write_still_linger_for_company() -> None:
    log = FakeLog(delay=0.03)
    coalescer = Coalescer(log.write, linger_s=0.1)
    first = asyncio.ensure_future(coalescer.submit(0, _upload("a"), 1))
    await asyncio.sleep(0.11)  # "a" is being written
    during = asyncio.ensure_future(coalescer.submit(0, _upload("b"), 1))
    await asyncio.sleep(0.05)  # the write is done; "b" has waited 50 of its 100 ms
    after = asyncio.ensure_future(coalescer.submit(0, _upload("c"), 1))
    await asyncio.gather(first, during, after)
    assert log.flushes == [(0, ["a"]), (0, ["b", "c"])]


async def test_a_heavy_partition_flushes_without_waiting_for_the_linger() -> None:
    log = FakeLog()
    coalescer = Coalescer(log.write, linger_s=10.0, max_weight=100)
    result = await asyncio.wait_for(coalescer.submit(0, _upload("big"), 150), 1.0)
    assert not result.duplicate


async def test_a_failed_write_fails_every_upload_of_the_flush_and_the_next_can_succeed() -> None:
    log = FakeLog(fail=ConnectionError("redis down"))
    coalescer = Coalescer(log.write, linger_s=0.005)
    results = await asyncio.gather(
        *(coalescer.submit(0, _upload(b), 1) for b in "ab"), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    log.fail = None
    assert not (await coalescer.submit(0, _upload("a"), 1)).duplicate


async def test_drain_flushes_what_is_pending() -> None:
    log = FakeLog()
    coalescer = Coalescer(log.write, linger_s=60.0)
    pending = asyncio.ensure_future(coalescer.submit(1, _upload("late"), 1))
    await asyncio.sleep(0)
    await coalescer.drain()
    assert (await pending).offset == 0


@pytest.mark.parametrize("linger", [0.0, 0.003])
async def test_every_upload_is_answered_exactly_once_under_load(linger: float) -> None:
    log = FakeLog(delay=0.001)
    coalescer = Coalescer(log.write, linger_s=linger)
    batches = [i % 150 for i in range(600)]  # each batch posted 4 times, by its one user
    results = await asyncio.gather(
        *(coalescer.submit(b % 4, _upload(f"b{b}", f"u{b % 4}"), 1) for b in batches)
    )
    first_answers = [b for b, r in zip(batches, results, strict=True) if not r.duplicate]
    assert sorted(first_answers) == list(range(150))  # one non-duplicate answer per batch
