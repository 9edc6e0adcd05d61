"""The log-epoch decision: which checkpoints a (lost, rolled back, idle) log still backs."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from mindhit.keys import epoch_field, epoch_field_partition, is_tp_field
from mindhit.lag import build_report, faust_positions, render_text
from mindhit.log_epoch import (
    Position,
    check_log,
    check_position,
    describe,
    may_create,
    recovery_epoch,
    still_latched,
)
from mindhit.recovery import join_parts, plan_stream
from projector.archive import split_entry
from schema.log import RawEntry, Upload, decode_raw_entry, encode_raw_entry

E1, E2 = "a" * 32, "b" * 32


def pos(offset: int, epoch: str | None = E1, partition: int = 0) -> Position:
    return Position(
        consumer="visits", topic="visits", partition=partition, offset=offset, epoch=epoch
    )


def test_idle_log_at_the_checkpoint_is_fine() -> None:
    assert check_position(pos(120), 120, E1) is None


def test_a_flushed_redis_is_an_epoch_missing_not_an_idle_log() -> None:
    problem = check_position(pos(120), 0, None)
    assert problem is not None and problem.kind == "epoch_missing"
    assert "Redis lost its data" in problem.reason


def test_a_fresh_epoch_under_old_checkpoints_is_detected_even_once_the_log_grew_past_them() -> None:
    problem = check_position(pos(120), 500, E2)
    assert problem is not None and problem.kind == "epoch_changed"
    assert E1 in problem.reason and E2 in problem.reason


def test_a_replica_that_had_not_caught_up_is_behind() -> None:
    problem = check_position(pos(120), 90, E1)
    assert problem is not None and problem.kind == "behind"
    assert "90" in problem.reason and "120" in problem.reason


def test_unstamped_checkpoints_are_adopted_while_the_stream_reaches_them() -> None:
    assert check_position(pos(120, None), 120, None) is None
    assert check_position(pos(120, None), 130, E1) is None
    behind = check_position(pos(120, None), 0, None)
    assert behind is not None and behind.kind == "behind"


def test_a_consumer_that_read_nothing_has_nothing_to_lose() -> None:
    assert check_position(pos(0), 0, None) is None
    assert check_position(pos(0), 0, E2) is None


@given(
    offset=st.integers(0, 10_000),
    highwater=st.integers(0, 10_000),
    stored=st.sampled_from([None, E1, E2]),
    current=st.sampled_from([None, E1, E2]),
)
def test_ok_exactly_when_the_same_epoch_reaches_the_checkpoint(
    offset: int, highwater: int, stored: str | None, current: str | None
) -> None:
    problem = check_position(pos(offset, stored), highwater, current)
    same_epoch = stored is None or stored == current
    assert (problem is None) == (offset == 0 or (same_epoch and highwater >= offset))


def test_check_log_reads_each_partition_s_epoch_and_stream() -> None:
    positions = [pos(10, E1, 0), pos(10, E1, 1)]
    problems = check_log(positions, {("visits", 0): 10, ("visits", 1): 0}, {0: E1, 1: None})
    assert [(p.partition, p.kind) for p in problems] == [(1, "epoch_missing")]
    assert "mindhit recover" in describe(problems)
    assert describe([]) == "log ok"
    behind = check_position(pos(10, None, 2), 0, None)
    assert behind is not None
    first = describe([behind, *problems], limit=1)
    assert first.startswith("log lost: visits on visits:1: log epoch")


def test_an_epoch_is_created_only_where_no_checkpoint_was_read_under_one() -> None:
    assert may_create([], 0)
    assert may_create([pos(0, E1), pos(5, None)], 0)
    assert may_create([pos(5, E1, partition=1)], 0)
    assert not may_create([pos(5, E1)], 0)


def test_recovery_restores_the_epoch_most_checkpoints_hold() -> None:
    assert recovery_epoch([pos(5, None)], 0) is None
    assert recovery_epoch([pos(5, E1), pos(7, E1), pos(9, E2)], 0) == E1
    assert recovery_epoch([pos(5, E1), pos(9, E2)], 0) == E2


def test_a_faust_group_s_commits_carry_the_epoch_of_their_partition() -> None:
    stored = {
        b"raw:0": b"12",
        b"raw:1": b"3",
        b"epoch.p0": E1.encode(),
        b"lease.member": b"w-1",
        b"lease.expires": b"99",
    }
    found = {(p.topic, p.partition): (p.offset, p.epoch) for p in faust_positions("g", stored)}
    assert found == {("raw", 0): (12, E1), ("raw", 1): (3, None)}
    assert epoch_field_partition(epoch_field(7)) == 7
    assert not is_tp_field(epoch_field(7))
    assert epoch_field_partition("lease.member") is None


def test_the_lag_text_opens_with_the_lost_log() -> None:
    report = build_report("p", {("visits", 0): 0}, {}, {"visits": {("visits", 0): 120}})
    problem = check_position(pos(120), 0, None)
    assert problem is not None
    text = render_text(msgspec.structs.replace(report, problems=[problem]))
    assert text.startswith("LOG LOST: 1 checkpoint(s)")
    assert "mindhit recover" in text.splitlines()[0]
    assert "epoch_missing" in text.splitlines()[1]


def test_a_latched_problem_holds_until_checkpoint_or_epochs_change() -> None:
    problem = check_position(pos(120), 90, E1)
    assert problem is not None
    grown_back = [pos(120)]  # the replica's stream grew past the checkpoint again
    assert still_latched([problem], grown_back, {0: E1}) == [problem]
    recovered = [pos(120, E2)]  # mindhit recover stamped the recovered log's epoch
    assert still_latched([problem], recovered, {0: E2}) == []
    assert still_latched([problem], [pos(130)], {0: E1}) == []


def test_recovery_reaches_the_furthest_checkpoint_and_counts_what_was_never_archived() -> None:
    positions = [
        Position(consumer="archiver", topic="raw", partition=0, offset=100),
        Position(consumer="sessions", topic="raw", partition=0, offset=120),
        Position(consumer="sessions", topic="raw", partition=1, offset=900),
        Position(consumer="visits", topic="visits", partition=0, offset=50),
    ]
    plan = plan_stream("p:{p0}:raw", "raw", 0, positions, "archiver")
    assert (plan.archived, plan.reach, plan.lost) == (100, 120, 20)
    visits = plan_stream("p:{p0}:visits", "visits", 0, positions, "archiver")
    assert (visits.archived, visits.reach, visits.lost) == (0, 50, 50)


def test_an_entry_split_per_user_is_joined_again_in_order() -> None:
    def upload(user: str) -> Upload:
        return Upload(batch_id=user, user_id=user, client_id="c", received_at=1, events=[])

    whole = RawEntry(uploads=[upload("u1"), upload("u2"), upload("u3")])
    parts = [part for _, part in split_entry("raw", encode_raw_entry(whole))]
    assert len(parts) == 3
    assert decode_raw_entry(join_parts("raw", parts)) == whole
    assert join_parts("raw", parts[:1]) == parts[0]
