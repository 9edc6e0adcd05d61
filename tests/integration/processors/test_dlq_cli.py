"""``mindhit dlq list|retry`` against real dead letters on Redis."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aioredis
from click.testing import CliRunner

from mindhit.cli import cli
from mindhit.settings import Settings
from schema.derived import UrlDiscovered
from schema.log import decode_derived_entry
from schema.topics import URLS_TOPIC, stream_key
from tests.integration.processors.pipeline import Pipeline
from tests.support.processes import mindhit_env
from tests.unit.processors.browsing import Browser

pytestmark = pytest.mark.integration


async def test_list_shows_failed_enrichment_and_retry_requeues_it(
    aredis: aioredis.Redis, settings: Settings
) -> None:
    pipe = Pipeline(aredis, settings)
    pipe.provider.fail_with = "429 quota exhausted"
    b = Browser("c1", "0190a0b0-0000-7000-8000-0000000000c1")
    b.activate(1, "https://docs.example/page")
    b.content(1, "https://docs.example/page", "Some page text about streams. " * 10)
    await pipe.feed("carol", "c1", b.events)
    await pipe.drain()

    runner = CliRunner()
    env = mindhit_env(settings)
    listed = await asyncio.to_thread(runner.invoke, cli, ["dlq", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    (letter,) = json.loads(listed.output)
    assert letter["kind"] == "enrich" and letter["status"] == "pending"
    assert letter["error"] == "429 quota exhausted" and letter["user_id"] == "carol"
    table = await asyncio.to_thread(
        runner.invoke, cli, ["dlq", "list"], env={**env, "COLUMNS": "200"}
    )
    assert "429 quota exhausted" in table.output

    partition = letter["partition"]
    key = stream_key(settings.key_prefix, URLS_TOPIC, partition)
    before = await aredis.xlen(key)
    retried = await asyncio.to_thread(
        runner.invoke, cli, ["dlq", "retry", letter["dlq_id"]], env=env
    )
    assert retried.exit_code == 0, retried.output
    assert f"retried {letter['dlq_id']}" in retried.output
    assert await aredis.xlen(key) == before + 1
    last = (await aredis.xrevrange(key, count=1))[0][1][b"v"]
    (work,) = decode_derived_entry(last).events
    assert isinstance(work, UrlDiscovered) and work.url == "https://docs.example/page"

    missing = await asyncio.to_thread(runner.invoke, cli, ["dlq", "retry", "nope"], env=env)
    assert missing.exit_code == 1 and "no dead letter nope" in missing.output
    pending = await asyncio.to_thread(
        runner.invoke, cli, ["dlq", "list", "--json", "--pending"], env=env
    )
    assert json.loads(pending.output) == []
