"""Digest of every key the dwell handler writes for fixed inputs (a check, not a speed figure).

A change meant to make the handler faster must leave its outputs byte-identical. This
runs :class:`processors.agents.raw.RawHandler` over fixed raw entries (``bench/processors.py``'s
synthetic browsing with its seed, batch ids numbered instead of random: 500 entries of
2,000 clients, then every session stopped) in batches of 16 and of 5, and prints one
SHA-256 per batch size over every key written under the run's prefix: strings, hashes,
sets, sorted-set members (not their scores: Redis's time) and stream entries with their
ids; not the URL versions' token (random, :mod:`processors.announced`). The two lines
must agree with each other and with the same run on the code before. With
``--without-states`` the users' saved states are left out (the state hash's fields kept,
not their values): what must still agree when a change alters the states' layout on
purpose (as on 2026-12-06, pages by URL), since their bytes then differ.

Usage: ``python bench/processors_digest.py [--redis-url redis://127.0.0.1:6379/0]
[--without-states]``
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bench.processors as bench  # noqa: E402
from bench.support.teardown import delete_prefix  # noqa: E402
from mindhit.redis_client import connect_redis  # noqa: E402
from mindhit.streams import url_versions_token_key  # noqa: E402
from processors.agents.raw import RawHandler  # noqa: E402
from processors.content import ContentStore  # noqa: E402
from processors.state import StateStore  # noqa: E402


def fixed_entries() -> list[bytes]:
    """The same raw entries on every run (``Clients`` is seeded; batch ids are numbered)."""
    numbers = itertools.count()
    random_uuid4 = uuid.uuid4
    uuid.uuid4 = lambda: uuid.UUID(int=next(numbers))  # only while the entries are built
    try:
        clients = bench.Clients(2_000)
        return bench.build_entries(clients, 500) + bench.build_entries(clients, 200, stop=True)
    finally:
        uuid.uuid4 = random_uuid4


async def _contents(client: Any, key: bytes, kind: str, states: bool = True) -> object:
    if not states and kind == "hash" and key.endswith(b":dwell-state"):
        return sorted(await client.hkeys(key))  # whose states, not their bytes
    if kind == "string":
        return await client.get(key)
    if kind == "hash":
        return sorted((await client.hgetall(key)).items())
    if kind == "set":
        return sorted(await client.smembers(key))
    if kind == "zset":
        return sorted(await client.zrange(key, 0, -1))  # the scores are Redis's clock
    if kind == "stream":
        return [(i, sorted(fields.items())) for i, fields in await client.xrange(key)]
    return kind


async def digest(
    redis_url: str, values: list[bytes], batch: int, states: bool = True
) -> tuple[int, str]:
    """Handle ``values`` ``batch`` at a time on a fresh prefix; how many keys, their digest."""
    client = connect_redis(redis_url)
    prefix = f"bench-digest-{uuid.uuid4().hex[:8]}"
    try:
        handler = RawHandler(
            StateStore(client, prefix),
            ContentStore(client, prefix),
            bench.PipelinedEmit(client, prefix),
        )
        for start in range(0, len(values), batch):
            stop = min(start + batch, len(values))
            await handler.handle_many(0, [(o, values[o]) for o in range(start, stop)])
        found = hashlib.sha256()
        token = url_versions_token_key(prefix).encode()  # random: bookkeeping, not an output
        keys = sorted(
            [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000) if k != token]
        )
        for key in keys:
            kind = (await client.type(key)).decode()
            name = key.decode().replace(prefix, "PREFIX", 1)
            found.update(repr((name, kind, await _contents(client, key, kind, states))).encode())
        return len(keys), found.hexdigest()
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()


async def main(redis_url: str, states: bool = True) -> None:
    values = fixed_entries()
    found: dict[str, object] = {"entries": len(values)}
    for batch in (16, 5):
        keys, sha = await digest(redis_url, values, batch, states)
        print(f"batches of {batch:>2}: {keys} keys, sha256 {sha}")
        found[f"keys_batch_{batch}"], found[f"sha256_batch_{batch}"] = keys, sha
    found["same"] = found["sha256_batch_16"] == found["sha256_batch_5"]
    print(json.dumps(found))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--without-states", action="store_true", help="leave the users' saved states out"
    )
    parsed = parser.parse_args()
    asyncio.run(main(parsed.redis_url, not parsed.without_states))
