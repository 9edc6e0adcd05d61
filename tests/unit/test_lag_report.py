"""The lag report's arithmetic (pure), checked as properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mindhit.keys import is_tp_field, parse_tp_field, tp_field
from mindhit.lag import build_report

topics = st.sampled_from(["raw", "visits", "app-counts-changelog", "a:b"])
tps = st.tuples(topics, st.integers(0, 7))


@given(st.dictionaries(tps, st.integers(0, 10_000)), st.data())
def test_lag_is_highwater_minus_committed_never_negative(
    highwaters: dict[tuple[str, int], int], data: st.DataObject
) -> None:
    committed = data.draw(
        st.dictionaries(st.sampled_from(sorted(highwaters) or [("raw", 0)]), st.integers(0, 10_000))
    )
    committed = {tp: o for tp, o in committed.items() if tp in highwaters}
    report = build_report("p", highwaters, {"g": committed}, {})
    for consumer in report.consumers:
        assert consumer.total_lag == sum(row.lag for row in consumer.partitions)
        for row in consumer.partitions:
            hw = highwaters[(row.topic, row.partition)]
            assert row.highwater == hw
            assert row.lag == max(0, hw - (row.committed or 0))
            assert row.committed == committed.get((row.topic, row.partition))
    for topic, values in report.highwaters.items():
        for partition, value in enumerate(values):
            assert value == highwaters.get((topic, partition), 0)


@given(tps)
def test_tp_fields_round_trip(tp: tuple[str, int]) -> None:
    assert parse_tp_field(tp_field(*tp)) == tp
    assert parse_tp_field(tp_field(*tp).encode()) == tp
    assert is_tp_field(tp_field(*tp))


def test_lease_fields_are_not_topic_partitions() -> None:
    assert not is_tp_field(b"lease.member")
    assert not is_tp_field("lease.expires")
    assert not is_tp_field(":3")


def test_caught_up_consumer_has_no_lag() -> None:
    report = build_report("p", {("raw", 0): 5, ("raw", 1): 0}, {"g": {("raw", 0): 5}}, {})
    assert report.consumers[0].total_lag == 0
    assert report.highwaters == {"raw": [5, 0]}
