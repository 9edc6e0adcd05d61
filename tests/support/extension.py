"""Browser tests of the extension: the built extension, the real gateway as a process, Redis.

Shared by ``tests/e2e/test_extension.py``, ``tests/e2e/test_pairing.py`` and
``tests/security/test_extension_privacy.py``: each runs a node script (playwright-core with
the system Chromium) that loads the unpacked extension, against a gateway started here.
"""

from __future__ import annotations

import asyncio
import atexit
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

from mindhit.settings import Settings
from mindhit.streams import read
from schema.log import Upload, decode_raw_entry
from schema.topics import RAW_TOPIC, stream_key

__all__ = [
    "CHROMIUM",
    "EXTENSION",
    "Gateway",
    "build_extension",
    "logged_uploads",
    "redis_dump",
    "run_driver",
]

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "extension"
CHROMIUM = "/usr/bin/chromium"


def build_extension() -> Path:
    """A private copy of the unpacked extension, freshly built, for one browser to load.

    The build (``npm run build``) empties and refills ``extension/dist``; under
    pytest-xdist another worker's browser had that directory loaded and lost its popup
    mid-test (``net::ERR_FILE_NOT_FOUND``). So the build and the copy run under a lock,
    and each caller gets its own copy (removed when the process ends).

    ``MINDHIT_TEST_EXTENSION_DIST`` points the tests at another build instead (e.g. an
    older version's, to see a test fail against it).
    """
    assert Path(CHROMIUM).exists(), "chromium missing: apt-get install -y chromium"
    assert shutil.which("node"), "node missing"
    other = os.environ.get("MINDHIT_TEST_EXTENSION_DIST")
    if other:
        return Path(other)
    with open(Path(tempfile.gettempdir()) / "mindhit-extension-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (EXTENSION / "node_modules").exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=EXTENSION, check=True)
        subprocess.run(["npm", "run", "--silent", "build"], cwd=EXTENSION, check=True)
        copy = Path(tempfile.mkdtemp(prefix="mindhit-extension-")) / "dist"
        shutil.copytree(EXTENSION / "dist", copy)
    atexit.register(shutil.rmtree, copy.parent, ignore_errors=True)
    return copy


class Gateway:
    """The real gateway (``mindhit gateway``) as a process that can be killed and restarted."""

    def __init__(self, settings: Settings, port: int, log_path: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._log_path = log_path
        self._env = {
            **os.environ,
            "MINDHIT_REDIS_URL": settings.redis_url,
            "MINDHIT_DATABASE_URL": settings.database_url,
            "MINDHIT_KEY_PREFIX": settings.key_prefix,
            "MINDHIT_PARTITIONS": str(settings.partitions),
            "MINDHIT_DATA_DIR": settings.data_dir,
            "MINDHIT_LOG_FORMAT": "json",
        }
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self._log_path.open("ab")
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mindhit.cli",
                "gateway",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self._proc.poll() is None, self._log_path.read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"gateway did not start: {self._log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)
        self._proc = None


async def logged_uploads(redis: aioredis.Redis, settings: Settings) -> list[Upload]:
    """Every upload in the raw topic, partition by partition."""
    uploads: list[Upload] = []
    for partition in range(settings.partitions):
        stream = stream_key(settings.key_prefix, RAW_TOPIC, partition)
        for record in await read(redis, {stream: 0}, count=100_000):
            uploads.extend(decode_raw_entry(record.value).uploads)
    return uploads


def _readable(value: bytes) -> bytes:
    """A stored value with compression undone (log entries: ``0x02`` + zlib; page texts: zlib)."""
    for body in (value[1:], value):
        try:
            return value + b"\n" + zlib.decompress(body)
        except zlib.error:
            continue
    return value


async def redis_dump(redis: aioredis.Redis, prefix: str) -> bytes:
    """Every key and value MindHit keeps under ``prefix``, decompressed and concatenated.

    msgpack keeps strings as they are, so a secret that reached Redis in any form shows up.
    """
    parts: list[bytes] = []
    async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        kind = (await redis.type(key)).decode()
        parts.append(key)
        if kind == "string":
            parts.append(_readable(await redis.get(key) or b""))
        elif kind == "hash":
            parts.extend(
                b"%s=%s" % (k, _readable(v)) for k, v in (await redis.hgetall(key)).items()
            )
        elif kind == "stream":
            for _, fields in await redis.xrange(key):
                parts.extend(b"%s=%s" % (k, _readable(v)) for k, v in fields.items())
        elif kind in ("set", "zset", "list"):
            members = (
                await redis.smembers(key)
                if kind == "set"
                else await redis.zrange(key, 0, -1)
                if kind == "zset"
                else await redis.lrange(key, 0, -1)
            )
            parts.extend(members)
    return b"\n".join(parts)


Control = Callable[[], Awaitable[None] | None]


async def run_driver(
    script: Path, config: dict[str, Any], control: Mapping[str, Control] | None = None
) -> Any:
    """Run a node driver with ``config``; serve its ``CTRL`` requests; return its JSON output.

    A driver prints ``CTRL <name>`` and waits for ``ok`` on stdin: ``control[name]`` runs
    (in a thread when it is a plain function) before the answer. It writes its results as
    JSON to ``config["out"]``.
    """
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(script),
        json.dumps(config),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None
    handlers = control or {}
    while line := (await proc.stdout.readline()).decode().strip():
        name = line.removeprefix("CTRL ")
        if name == line or name not in handlers:
            continue
        handler = handlers[name]
        if asyncio.iscoroutinefunction(handler):
            await handler()
        else:
            await asyncio.to_thread(handler)
        proc.stdin.write(b"ok\n")
        await proc.stdin.drain()
    assert await proc.wait() == 0, f"{script.name} failed (see its stderr above)"
    return json.loads(Path(config["out"]).read_text())
