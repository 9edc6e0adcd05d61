"""Coalescing: an idle partition writes at once; uploads arriving during a write share the next.

Every upload is answered only after the entry holding it is written. Partitions ready at
the same time are written in one round (one round trip).
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.coalescer import AppendResult, Coalescer, Submission, plan_flush, take_flush
from schema.log import Upload


def _upload(batch: str, user: str = "u1") -> Upload:
    return Upload(batch_id=batch, user_id=user, client_id="c", received_at=0, events=[])


class FakeLog:
    """An in-memory writer that records the entries (and rounds) it was asked to write."""

    def __init__(self, delay: float = 0.0, fail: BaseException | None = None) -> None:
        self.flushes: list[tuple[int, list[str]]] = []
        self.rounds: list[dict[int, list[str]]] = []
        self.seen: set[tuple[str, str, str]] = set()
        self.delay = delay
        self.fail = fail
        self.fail_partition: dict[int, Exception] = {}

    async def write(
        self, flushes: dict[int, list[Submission]]
    ) -> dict[int, list[AppendResult] | Exception]:
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        self.rounds.append({p: [s.upload.batch_id for s in ls] for p, ls in flushes.items()})
        outcomes: dict[int, list[AppendResult] | Exception] = {}
        for partition, leaders in flushes.items():
            if partition in self.fail_partition:
                outcomes[partition] = self.fail_partition[partition]
                continue
            self.flushes.append((partition, [s.upload.batch_id for s in leaders]))
            results = []
            for s in leaders:
                duplicate = s.identity in self.seen
                self.seen.add(s.identity)
                offset = None if duplicate else len(self.flushes) - 1
                results.append(AppendResult(duplicate, offset))
            outcomes[partition] = results
        return outcomes


class GatedLog:
    """A writer whose rounds start when asked and complete only when released, one by one."""

    def __init__(self) -> None:
        self.started: list[dict[int, list[str]]] = []
        self._gates: list[asyncio.Event] = []

    async def write(
        self, flushes: dict[int, list[Submission]]
    ) -> dict[int, list[AppendResult] | Exception]:
        offset = len(self.started)
        self.started.append({p: [s.upload.batch_id for s in ls] for p, ls in flushes.items()})
        gate = asyncio.Event()
        self._gates.append(gate)
        await gate.wait()
        return {p: [AppendResult(False, offset) for _ in ls] for p, ls in flushes.items()}

    def release(self, index: int) -> None:
        self._gates[index].set()


async def _settle() -> None:
    """Let every ready callback and task run (no timers are involved)."""
    for _ in range(10):
        await asyncio.sleep(0)


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


@given(st.lists(st.integers(1, 300), max_size=20), st.integers(1, 500))
def test_an_entry_takes_the_oldest_uploads_up_to_its_weight(weights: list[int], cap: int) -> None:
    count = take_flush(weights, cap)
    if not weights:
        assert count == 0
        return
    assert 1 <= count <= len(weights)
    assert count == 1 or sum(weights[:count]) <= cap  # one heavy upload goes alone
    if count < len(weights):
        assert sum(weights[: count + 1]) > cap  # nothing that still fitted was left behind


async def test_an_idle_partition_writes_at_once() -> None:
    log = GatedLog()
    coalescer = Coalescer(log.write)
    first = asyncio.ensure_future(coalescer.submit(0, _upload("a"), 1))
    await _settle()  # no timer: the write has started within a few loop iterations
    assert log.started == [{0: ["a"]}]
    log.release(0)
    assert await first == AppendResult(False, 0)


async def test_uploads_arriving_during_a_write_are_written_together_when_it_completes() -> None:
    log = GatedLog()
    coalescer = Coalescer(log.write)
    first = asyncio.ensure_future(coalescer.submit(0, _upload("a"), 1))
    await _settle()
    rest = [asyncio.ensure_future(coalescer.submit(0, _upload(b), 1)) for b in "bcd"]
    await _settle()
    assert log.started == [{0: ["a"]}]  # one write in flight per partition: b, c, d wait
    assert not any(r.done() for r in rest)
    log.release(0)
    assert await first == AppendResult(False, 0)
    await _settle()
    assert log.started == [{0: ["a"]}, {0: ["b", "c", "d"]}]  # at once, no linger
    assert not any(r.done() for r in rest)  # answered only once their entry is written
    log.release(1)
    assert [r.offset for r in await asyncio.gather(*rest)] == [1, 1, 1]


async def test_a_write_in_flight_for_one_partition_does_not_hold_another() -> None:
    log = GatedLog()
    coalescer = Coalescer(log.write)
    busy = asyncio.ensure_future(coalescer.submit(0, _upload("a"), 1))
    await _settle()
    other = asyncio.ensure_future(coalescer.submit(1, _upload("b"), 1))
    await _settle()
    assert log.started == [{0: ["a"]}, {1: ["b"]}]
    log.release(1)
    assert (await other).offset == 1
    assert not busy.done()
    log.release(0)
    await busy


async def test_on_a_cluster_a_partition_stuck_in_its_write_holds_no_other_partition() -> None:
    stuck = asyncio.Event()  # partition 0's node is failing over

    async def write(
        flushes: dict[int, list[Submission]],
    ) -> dict[int, list[AppendResult] | Exception]:
        async def one(partition: int, leaders: list[Submission]) -> list[AppendResult]:
            if partition == 0:
                await stuck.wait()
            return [AppendResult(False, partition) for _ in leaders]

        # as on Redis Cluster: each partition's entry runs on its own node, all at once
        done = await asyncio.gather(*(one(p, ls) for p, ls in flushes.items()))
        return dict(zip(flushes, done, strict=True))

    coalescer = Coalescer(write)
    held = asyncio.ensure_future(coalescer.submit(0, _upload("a"), 1))
    other = asyncio.ensure_future(coalescer.submit(1, _upload("b"), 1))  # same iteration
    async with asyncio.timeout(1):
        assert (await other).offset == 1
        assert (await coalescer.submit(1, _upload("c"), 1)).offset == 1  # and its next entry
    assert not held.done()
    stuck.set()
    assert (await held).offset == 0


async def test_with_one_round_at_a_time_an_idle_partition_waits_for_the_round_in_flight() -> None:
    log = GatedLog()
    coalescer = Coalescer(log.write, one_round=True)
    busy = asyncio.ensure_future(coalescer.submit(0, _upload("a"), 1))
    await _settle()
    others = [asyncio.ensure_future(coalescer.submit(p, _upload(f"b{p}"), 1)) for p in (1, 0)]
    await _settle()
    assert log.started == [{0: ["a"]}]  # partition 1 has nothing in flight, yet waits
    log.release(0)
    await busy
    await _settle()
    assert log.started == [{0: ["a"]}, {1: ["b1"], 0: ["b0"]}]
    log.release(1)
    assert [r.offset for r in await asyncio.gather(*others)] == [1, 1]


@pytest.mark.parametrize("one_round", [False, True])
async def test_an_upload_right_after_a_round_completes_is_written(one_round: bool) -> None:
    log = FakeLog()
    coalescer = Coalescer(log.write, one_round=one_round)
    async with asyncio.timeout(1):
        for batch in "abc":  # each submitted in the step that gets the one before's answer
            assert not (await coalescer.submit(0, _upload(batch), 1)).duplicate
    assert log.flushes == [(0, ["a"]), (0, ["b"]), (0, ["c"])]


async def test_uploads_submitted_in_the_same_loop_iteration_share_one_entry_and_round() -> None:
    log = FakeLog()
    coalescer = Coalescer(log.write, one_round=True)
    results = await asyncio.gather(
        *(coalescer.submit(3, _upload(f"b{i}"), 1) for i in range(10)),
        coalescer.submit(5, _upload("other"), 1),
    )
    assert log.rounds == [{3: [f"b{i}" for i in range(10)], 5: ["other"]}]  # one round trip
    assert all(not r.duplicate for r in results)


async def test_partitions_waiting_behind_a_round_are_written_together_in_the_next() -> None:
    log = GatedLog()
    coalescer = Coalescer(log.write, one_round=True)
    first = [asyncio.ensure_future(coalescer.submit(p, _upload(f"a{p}"), 1)) for p in (0, 1)]
    await _settle()
    later = [asyncio.ensure_future(coalescer.submit(p, _upload(f"b{p}"), 1)) for p in (1, 0)]
    await _settle()
    assert log.started == [{0: ["a0"], 1: ["a1"]}]
    log.release(0)
    await asyncio.gather(*first)
    await _settle()
    assert log.started == [{0: ["a0"], 1: ["a1"]}, {1: ["b1"], 0: ["b0"]}]
    log.release(1)
    assert [r.offset for r in await asyncio.gather(*later)] == [1, 1]


async def test_a_partition_whose_entry_failed_fails_alone() -> None:
    log = FakeLog()
    log.fail_partition[1] = ConnectionError("that node is down")
    coalescer = Coalescer(log.write, one_round=True)
    results = await asyncio.gather(
        coalescer.submit(0, _upload("a"), 1),
        coalescer.submit(1, _upload("b"), 1),
        return_exceptions=True,
    )
    assert len(log.rounds) == 1
    assert results[0] == AppendResult(False, 0)
    assert isinstance(results[1], ConnectionError)


async def test_a_duplicate_inside_one_flush_is_answered_as_duplicate() -> None:
    log = FakeLog()
    coalescer = Coalescer(log.write)
    results = await asyncio.gather(*(coalescer.submit(0, _upload("same"), 1) for _ in range(3)))
    assert log.flushes == [(0, ["same"])]
    assert sorted(r.duplicate for r in results) == [False, True, True]
    assert {r.offset for r in results} == {0}


async def test_a_backlog_heavier_than_one_entry_is_written_as_several_in_arrival_order() -> None:
    log = GatedLog()
    coalescer = Coalescer(log.write, max_weight=100)
    uploads = [asyncio.ensure_future(coalescer.submit(0, _upload("a"), 1))]
    await _settle()
    uploads += [asyncio.ensure_future(coalescer.submit(0, _upload(b), 40)) for b in "bcd"]
    uploads.append(asyncio.ensure_future(coalescer.submit(0, _upload("e"), 150)))
    await _settle()
    for index in range(4):
        log.release(index)
        await _settle()
    await asyncio.gather(*uploads)
    assert log.started == [{0: ["a"]}, {0: ["b", "c"]}, {0: ["d"]}, {0: ["e"]}]


async def test_a_failed_write_fails_every_upload_of_the_flush_and_the_next_can_succeed() -> None:
    log = FakeLog(fail=ConnectionError("redis down"))
    coalescer = Coalescer(log.write)
    results = await asyncio.gather(
        *(coalescer.submit(0, _upload(b), 1) for b in "ab"), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    log.fail = None
    assert not (await coalescer.submit(0, _upload("a"), 1)).duplicate


async def test_drain_writes_what_waits_behind_a_write_in_flight() -> None:
    log = GatedLog()
    coalescer = Coalescer(log.write)
    first = asyncio.ensure_future(coalescer.submit(1, _upload("a"), 1))
    await _settle()
    late = asyncio.ensure_future(coalescer.submit(1, _upload("late"), 1))
    drained = asyncio.ensure_future(coalescer.drain())
    await _settle()
    assert not drained.done()
    log.release(0)
    await _settle()
    assert not drained.done()  # "late" is being written now
    log.release(1)
    await drained
    assert (await first).offset == 0
    assert (await late).offset == 1


@pytest.mark.parametrize("one_round", [False, True])
async def test_every_upload_is_answered_exactly_once_under_load(one_round: bool) -> None:
    log = FakeLog(delay=0.001)
    coalescer = Coalescer(log.write, one_round=one_round)
    batches = [i % 150 for i in range(600)]  # each batch posted 4 times, by its one user

    async def post(b: int, pause: float) -> AppendResult:
        await asyncio.sleep(pause)  # arrivals spread over ~20 ms: some idle, some during writes
        return await coalescer.submit(b % 4, _upload(f"b{b}", f"u{b % 4}"), 1)

    results = await asyncio.gather(*(post(b, (i % 20) / 1000) for i, b in enumerate(batches)))
    first_answers = [b for b, r in zip(batches, results, strict=True) if not r.duplicate]
    assert sorted(first_answers) == list(range(150))  # one non-duplicate answer per batch
    assert 4 < len(log.flushes) < 600  # uploads were coalesced, partitions wrote many times


class GivingUp(Exception):
    """An entry's error that also fails the uploads waiting behind it (Redis timed out)."""


@pytest.mark.parametrize("one_round", [False, True], ids=["per-partition", "one-round"])
async def test_uploads_waiting_behind_an_entry_that_timed_out_fail_with_it_at_once(
    one_round: bool,
) -> None:
    """Written next, they would wait for the node that did not answer a second time."""
    gate = asyncio.Event()
    written: list[list[str]] = []

    async def write(
        flushes: dict[int, list[Submission]],
    ) -> dict[int, list[AppendResult] | Exception]:
        if not written:
            written.append([])
            await gate.wait()
            return dict.fromkeys(flushes, GivingUp("no reply within 12 s"))
        written.append([s.upload.batch_id for ls in flushes.values() for s in ls])
        return {p: [AppendResult(False, 1) for _ in ls] for p, ls in flushes.items()}

    coalescer = Coalescer(write, one_round=one_round, gives_up=lambda e: isinstance(e, GivingUp))
    first = asyncio.ensure_future(coalescer.submit(0, _upload("a"), 1))
    await _settle()
    behind = [asyncio.ensure_future(coalescer.submit(0, _upload(b), 1)) for b in "bc"]
    elsewhere = asyncio.ensure_future(coalescer.submit(1, _upload("d"), 1))
    await _settle()
    gate.set()
    await _settle()
    for upload in [first, *behind]:
        with pytest.raises(GivingUp):
            await upload
    if one_round:  # one Redis: every partition waited for the same server
        with pytest.raises(GivingUp):
            await elsewhere
        assert written == [[]]
    else:  # a partition of another node was written meanwhile
        assert (await elsewhere).offset == 1
        assert written == [[], ["d"]]
    assert (await coalescer.submit(0, _upload("e"), 1)).offset == 1  # and the next is written


async def test_uploads_waiting_behind_an_entry_that_failed_otherwise_are_still_written() -> None:
    gate = asyncio.Event()
    written: list[list[str]] = []

    async def write(
        flushes: dict[int, list[Submission]],
    ) -> dict[int, list[AppendResult] | Exception]:
        if not written:
            written.append([])
            await gate.wait()
            return dict.fromkeys(flushes, ValueError("refused"))
        written.append([s.upload.batch_id for ls in flushes.values() for s in ls])
        return {p: [AppendResult(False, 1) for _ in ls] for p, ls in flushes.items()}

    coalescer = Coalescer(write, gives_up=lambda e: isinstance(e, GivingUp))
    first = asyncio.ensure_future(coalescer.submit(0, _upload("a"), 1))
    await _settle()
    behind = asyncio.ensure_future(coalescer.submit(0, _upload("b"), 1))
    await _settle()
    gate.set()
    with pytest.raises(ValueError):
        await first
    assert (await behind).offset == 1
    assert written == [[], ["b"]]
