"""The processors' log guard, pure part: what counts as a log lost under a group's offsets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.exceptions import ClusterDownError, ResponseError

from mindhit.keys import epoch_field, tp_field
from processors.transport.log_check import (
    Backing,
    assess,
    changed_epochs,
    read_highwaters,
    streams_behind,
)


def _fields(partition: int, offset: int, stamp: str | None) -> dict[bytes, bytes]:
    fields = {tp_field("raw", partition).encode(): str(offset).encode()}
    if stamp is not None:
        fields[epoch_field(partition).encode()] = stamp.encode()
    return fields


def test_stored_offsets_backed_by_their_log_pass_and_fix_the_epoch_to_expect() -> None:
    backing = Backing(
        fields={0: _fields(0, 5, "e1"), 1: {}},
        epochs={0: "e1", 1: "e9"},
        highwaters={("raw", 0): 7},
    )
    verdict = assess("g", backing, previous={})
    assert verdict.problems == [] and verdict.forgotten == {}
    assert verdict.expected == {0: "e1", 1: "e9"}  # a fresh partition: the current epoch
    assert verdict.committed == {("raw", 0): 5}


def test_a_stamp_of_another_epoch_or_a_stream_behind_is_a_loss() -> None:
    backing = Backing(
        fields={0: _fields(0, 5, "e1"), 1: _fields(1, 9, "e2"), 2: _fields(2, 3, "e3")},
        epochs={0: "e2", 1: "e2", 2: None},
        highwaters={("raw", 0): 9, ("raw", 1): 4, ("raw", 2): 3},
    )
    kinds = {(p.partition, p.kind) for p in assess("g", backing, previous={}).problems}
    assert kinds == {(0, "epoch_changed"), (1, "behind"), (2, "epoch_missing")}


def test_offsets_that_lost_their_stamp_with_the_log_are_caught_by_what_the_worker_read() -> None:
    """Redis lost both: nothing stored to compare, but this worker read partition 0 in e1."""
    backing = Backing(fields={0: {}, 1: {}}, epochs={0: "e2", 1: "e5"}, highwaters={})
    verdict = assess("g", backing, previous={0: "e1", 1: "e5"})
    assert verdict.problems == []
    assert verdict.forgotten == {0: "e2"}
    assert verdict.expected[0] == "e1"  # commits in the new log stay refused


def test_changed_epochs_ignores_partitions_read_before_they_had_one() -> None:
    assert changed_epochs({0: "e1", 1: None, 2: "e3"}, {0: None, 1: "e7", 2: "e3"}) == {0: None}


def test_a_stream_below_its_committed_offset_is_behind_and_one_at_it_is_not() -> None:
    behind = streams_behind(
        {("raw", 0): 100, ("raw", 1): 50, ("visits", 1): 7},
        {("raw", 0): 10, ("raw", 1): 50},
    )
    assert set(behind) == {("raw", 0), ("visits", 1)}  # a stream gone counts as empty
    assert "highwater 10 is below the committed offset 100" in behind[("raw", 0)]


class _Pipeline:
    """A pipeline answering ``XINFO STREAM`` with canned replies, in order."""

    def __init__(self, replies: list[Any]) -> None:
        self.replies = replies

    def xinfo_stream(self, _key: str) -> None:
        pass

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        return self.replies


class _Client:
    def __init__(self, replies: list[Any]) -> None:
        self.replies = replies

    def pipeline(self, transaction: bool = True) -> _Pipeline:
        return _Pipeline(self.replies)


def test_highwaters_of_absent_streams_are_zero_but_other_errors_are_not_a_lost_log() -> None:
    """A CLUSTERDOWN (a master failing over) read as highwater 0 stood a worker still for good."""
    client: Any = _Client([{"last-generated-id": b"0-7"}, ResponseError("no such key")])
    found = asyncio.run(read_highwaters(client, "mh", [("raw", 0), ("raw", 1)]))
    assert found == {("raw", 0): 7, ("raw", 1): 0}
    down: Any = _Client([ClusterDownError("CLUSTERDOWN The cluster is down")])
    with pytest.raises(ClusterDownError):
        asyncio.run(read_highwaters(down, "mh", [("raw", 0)]))
