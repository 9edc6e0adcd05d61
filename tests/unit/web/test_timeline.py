"""Timeline logic: ordering, idle gaps, dwell bars and per-domain totals."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from web.timeline import TimelineVisit, build_timeline, domain_totals, format_duration


def visit(
    i: int, start: int, end: int, domain: str = "a.example", dwell: int | None = None
) -> TimelineVisit:
    return TimelineVisit(
        visit_id=f"v{i}",
        url=f"https://{domain}/{i}",
        title=f"t{i}",
        domain=domain,
        start_ts=start,
        end_ts=end,
        dwell_ms=end - start if dwell is None else dwell,
    )


def test_a_long_pause_between_visits_shows_as_a_gap() -> None:
    timeline = build_timeline([visit(2, 200_000, 260_000), visit(1, 0, 60_000)])
    assert [e.kind for e in timeline.entries] == ["visit", "gap", "visit"]
    gap = timeline.entries[1]
    assert (gap.start_ts, gap.end_ts) == (60_000, 200_000)


def test_short_pauses_and_overlaps_are_not_gaps() -> None:
    timeline = build_timeline(
        [visit(1, 0, 100_000), visit(2, 50_000, 60_000), visit(3, 110_000, 120_000)]
    )
    assert [e.kind for e in timeline.entries] == ["visit"] * 3


def test_dwell_bars_are_relative_to_the_longest_visit() -> None:
    timeline = build_timeline([visit(1, 0, 30_000), visit(2, 40_000, 100_000)])
    assert [e.bar for e in timeline.entries] == [0.5, 1.0]


def test_domain_totals_sum_dwell_largest_first_with_shares() -> None:
    totals = domain_totals(
        [visit(1, 0, 10_000, "b.example"), visit(2, 0, 30_000), visit(3, 0, 10_000, "b.example")]
    )
    assert [(t.domain, t.dwell_ms, t.visits, t.share) for t in totals] == [
        ("a.example", 30_000, 1, 0.6),
        ("b.example", 20_000, 2, 0.4),
    ]


def test_durations_read_naturally() -> None:
    assert [format_duration(v) for v in (None, 900, 45_000, 12 * 60_000, 65 * 60_000)] == [
        "—",
        "0 s",
        "45 s",
        "12 min",
        "1 h 05 min",
    ]


spans = st.lists(
    st.tuples(st.integers(0, 10**7), st.integers(0, 10**6), st.sampled_from(["a", "b", "c"])),
    max_size=40,
)


@given(spans)
def test_every_visit_appears_once_in_time_order_and_totals_add_up(
    data: list[tuple[int, int, str]],
) -> None:
    visits = [visit(i, s, s + d, f"{dom}.example") for i, (s, d, dom) in enumerate(data)]
    timeline = build_timeline(visits)
    shown = [e.visit for e in timeline.entries if e.kind == "visit"]
    assert sorted(v.visit_id for v in shown if v) == sorted(v.visit_id for v in visits)
    starts = [e.start_ts for e in timeline.entries]
    assert starts == sorted(starts)
    assert sum(d.dwell_ms for d in timeline.domains) == timeline.total_dwell_ms
    assert all(0.0 <= e.bar <= 1.0 for e in timeline.entries)
    for gap in (e for e in timeline.entries if e.kind == "gap"):
        assert gap.end_ts - gap.start_ts >= 30_000
        # nothing was being read during a gap
        assert not any(v.start_ts < gap.end_ts and v.end_ts > gap.start_ts for v in visits)


def test_lag_is_pivoted_to_one_line_per_consumer_and_topic() -> None:
    from web.models import LagRow
    from web.ops import pivot_lag

    rows = [
        LagRow(consumer="faust:p", topic="raw", partition=1, lag=5),
        LagRow(consumer="faust:p", topic="raw", partition=0, lag=2),
        LagRow(consumer="projection:s", topic="raw", partition=1, lag=1),
    ]
    assert pivot_lag(rows) == (
        [0, 1],
        [("faust:p", "raw", [2, 5], 7), ("projection:s", "raw", [0, 1], 1)],
    )
