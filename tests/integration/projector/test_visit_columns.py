"""A derived log whose visits come partly as columns (``VisitsClosed``, what the processors
wrote before COPY rows) and partly one per event (``VisitClosed``, what earlier builds
wrote and the log and archive still hold) folds, archives and replays into exactly the
tables the same log of ``VisitClosed`` does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit.settings import Settings
from projector.replay import replay
from projector.retention import trim_streams
from projector.synthetic import LogItem, synth_log, write_log
from schema.derived import VisitClosed, VisitsClosed
from schema.log import DerivedEntry, decode_derived_entry, encode_derived_entry
from schema.topics import VISITS_TOPIC
from schema.visits import closed_visits

from .conftest import clear_read_tables, fold_all, snapshot
from .test_archive_replay import archive_all

pytestmark = pytest.mark.integration


def _log() -> Iterator[LogItem]:
    return synth_log(21, users=4, sessions_per_user=3, visits_per_session=7, visit_shape="columns")


def _as_events(items: Iterator[LogItem], every: int) -> Iterator[LogItem]:
    """The log with every ``every``-th visits entry (1: all of them) as earlier builds wrote
    it (one ``VisitClosed`` per visit) instead of as columns."""
    n = 0
    for item in items:
        if item.topic == VISITS_TOPIC and (n := n + 1) % every == 0:
            entry = decode_derived_entry(item.value)
            events = [
                v
                for e in entry.events
                for v in (closed_visits(e) if isinstance(e, VisitsClosed) else [e])
            ]
            one_each = DerivedEntry(
                events=events, origin=entry.origin, received_at=entry.received_at
            )  # type: ignore[arg-type]
            item = msgspec.structs.replace(item, value=encode_derived_entry(one_each))
        yield item


async def _forget_redis(settings: Settings, redis: aioredis.Redis) -> None:
    keys = [k async for k in redis.scan_iter(match=f"{settings.key_prefix}:*", count=1000)]
    if keys:
        await redis.delete(*keys)


async def test_mixed_formats_fold_archive_and_replay_to_the_tables_of_events(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    await write_log(aredis, settings, _as_events(_log(), every=1))
    await fold_all(settings, aredis, pg)
    expected = snapshot(pg)
    assert expected["page_visits"], "the synthetic log folds visits"

    await _forget_redis(settings, aredis)
    clear_read_tables(pg)
    mixed = list(_as_events(_log(), every=2))
    visits = [i.value for i in mixed if i.topic == VISITS_TOPIC]
    kinds = {type(e) for v in visits for e in decode_derived_entry(v).events}
    assert kinds == {VisitClosed, VisitsClosed}
    await write_log(aredis, settings, mixed)
    await fold_all(settings, aredis, pg)
    assert snapshot(pg) == expected

    # Archived and trimmed, then rebuilt from the archive alone: the same tables again.
    settings = msgspec.structs.replace(settings, stream_retention_s=0.0)
    await archive_all(settings, aredis, pg)
    assert await trim_streams(settings, aredis, pg) > 0
    result = await replay(settings, aredis, pg)
    assert result.swapped and result.events > 0
    assert snapshot(pg) == expected
