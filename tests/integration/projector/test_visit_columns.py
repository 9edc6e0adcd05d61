"""A derived log whose visits come partly as columns (``VisitsClosed``, release 2's format)
folds, archives and replays into exactly the tables the same log of ``VisitClosed`` does."""

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
from schema.visits import columnar

from .conftest import clear_read_tables, fold_all, snapshot
from .test_archive_replay import archive_all

pytestmark = pytest.mark.integration


def _log() -> Iterator[LogItem]:
    return synth_log(21, users=4, sessions_per_user=3, visits_per_session=7)


def _every_other_as_columns(items: Iterator[LogItem]) -> Iterator[LogItem]:
    """The visits entries alternately as release 2 writes them (columns) and as today."""
    n = 0
    for item in items:
        if item.topic == VISITS_TOPIC and (n := n + 1) % 2:
            entry = decode_derived_entry(item.value)
            cols = DerivedEntry(
                events=columnar(entry.events), origin=entry.origin, received_at=entry.received_at
            )  # type: ignore[arg-type]
            item = msgspec.structs.replace(item, value=encode_derived_entry(cols))
        yield item


async def _forget_redis(settings: Settings, redis: aioredis.Redis) -> None:
    keys = [k async for k in redis.scan_iter(match=f"{settings.key_prefix}:*", count=1000)]
    if keys:
        await redis.delete(*keys)


async def test_mixed_formats_fold_archive_and_replay_to_the_tables_of_events(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    await write_log(aredis, settings, _log())
    await fold_all(settings, aredis, pg)
    expected = snapshot(pg)
    assert expected["page_visits"], "the synthetic log folds visits"

    await _forget_redis(settings, aredis)
    clear_read_tables(pg)
    mixed = list(_every_other_as_columns(_log()))
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
