"""A whole private MindHit stack whose every part may be killed, paused and restarted.

:class:`Stack` owns a private Redis (append-only file, ``appendfsync everysec`` as
production runs it) or, with ``cluster_replicas``, a private Redis Cluster (three masters,
that many replicas each, :class:`~tests.support.redis_cluster.PrivateRedisCluster`, the
components given its first node only), a private PostgreSQL 15 and the ``mindhit gateway``,
``processors`` and ``projector`` processes (one or more replicas of each), each a
:class:`Component` in its own process group on its own loopback port. Everything
lives under one directory (data, logs); :meth:`Stack.close` ends every process it
ever started — also the "zombies" (a paused component whose replacement was started)
— and is safe to call twice, so ``with Stack(...)`` cleans up on an exception or Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx
import psycopg

from mindhit.db import apply_migrations
from tests.support.postgres import PrivatePostgres
from tests.support.redis_cluster import PrivateRedisCluster
from tests.support.servers import PrivateRedis, free_port

__all__ = ["COMPONENTS", "Component", "Stack"]

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ("gateway", "processors", "projector")
_DATABASE = "mindhit"


class Component:
    """One ``mindhit <command>`` child in its own process group, its output in ``log``.

    ``name`` tells replicas apart (``projector``, ``projector-2``); ``command`` is the
    ``mindhit`` command (the name by default); ``port`` its health port (by default
    the one ``env`` gives the command).
    """

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        log: Path,
        health_path: str,
        *,
        command: str | None = None,
        port: int | None = None,
    ) -> None:
        self.name = name
        self.command = command or name
        self.env = env
        self.log = log
        self.health_path = health_path
        self.port = port or int(env[f"MINDHIT_{self.command.upper()}_PORT"])
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def health_url(self) -> str:
        """Where the running process answers its health check."""
        return f"http://127.0.0.1:{self.port}/{self.health_path}"

    def start(self) -> None:
        """Start the command (a new process; the previous one must be gone or detached)."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mindhit.cli", self.command],
                env=self.env | {f"MINDHIT_{self.command.upper()}_PORT": str(self.port)},
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        """Whether the current process runs."""
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the component's process group (if it runs)."""
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """``kill -9`` the component, as a crash would, and reap it."""
        self.signal(signal.SIGCONT)  # a stopped process must not stay a zombie
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(30)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``."""
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def detach(self) -> Component:
        """Hand the running process to a new :class:`Component` and move to a free port.

        The replacement started next runs beside the old process, as a new pod would
        (its own metrics port); the old one keeps running until it is killed.
        """
        old = Component(
            self.name, self.env, self.log, self.health_path, command=self.command, port=self.port
        )
        old.proc = self.proc
        self.port, self.proc = free_port(), None
        return old

    def wait_healthy(self, timeout: float = 90.0) -> None:
        """Wait until ``health_url`` answers 200 (raises if the process exits or time runs out)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited:\n{self.tail()}")
            try:
                if httpx.get(self.health_url, timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not healthy at {self.health_url}:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the component's log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Stack:
    """Private Redis + PostgreSQL + gateway, processors and projector under ``root``.

    ``replicas``: how many processes of a component run (default one each); the
    processors workers form a worker group, the projector replicas the projector group.
    ``cluster_replicas``: a Redis Cluster instead of one Redis (``None``), with that many
    replicas per master, which take over after ``cluster_node_timeout_ms``.
    """

    def __init__(
        self,
        root: Path,
        *,
        partitions: int = 4,
        env: dict[str, str] | None = None,
        replicas: Mapping[str, int] | None = None,
        cluster_replicas: int | None = None,
        cluster_node_timeout_ms: int = 1000,
    ):
        self.root = root
        root.chmod(0o755)  # PostgreSQL runs as its own user and must reach its directory
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.redis = PrivateRedis(root / "redis", fsync="everysec")
        self.cluster = (
            None
            if cluster_replicas is None
            else PrivateRedisCluster(
                root / "redis-cluster",
                replicas=cluster_replicas,
                node_timeout_ms=cluster_node_timeout_ms,
            )
        )
        self.postgres = PrivatePostgres(root / "postgres")
        self.key_prefix = "chaos"
        self.partitions = partitions
        self._extra_env = env or {}
        self.replicas = {name: (replicas or {}).get(name, 1) for name in COMPONENTS}
        ports = {name: free_port() for name in COMPONENTS}
        self.ports = ports
        self.gateway_url = f"http://127.0.0.1:{ports['gateway']}"
        self.components: dict[str, Component] = {}
        self.zombies: list[Component] = []
        self._closed = False

    @property
    def redis_url(self) -> str:
        """The URL the components are given: the Redis, or the cluster's first node."""
        return self.cluster.url if self.cluster is not None else self.redis.url

    @property
    def database_url(self) -> str:
        """The stack's database."""
        return self.postgres.url(_DATABASE)

    def env(self) -> dict[str, str]:
        """The environment every component (and ``mindhit`` command) of the stack runs with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINDHIT_")}
        env |= {
            "MINDHIT_REDIS_URL": self.redis_url,
            "MINDHIT_DATABASE_URL": self.database_url,
            "MINDHIT_KEY_PREFIX": self.key_prefix,
            "MINDHIT_PARTITIONS": str(self.partitions),
            "MINDHIT_DATA_DIR": str(self.root / "data"),
            "MINDHIT_LOG_FORMAT": "json",
            "MINDHIT_AI_PROVIDER": "local",
            "MINDHIT_COMMIT_INTERVAL_S": "0.2",
            "MINDHIT_GATEWAY_METRICS_PORT": "0",  # fixed ports would collide across runs
            "PYTHONPATH": str(ROOT),
        }
        for name, port in self.ports.items():
            env[f"MINDHIT_{name.upper()}_PORT"] = str(port)
        return env | self._extra_env

    def start(self) -> None:
        """Start Redis and PostgreSQL (new cluster, migrated), then every component."""
        if self.cluster is not None:
            self.cluster.start()
        else:
            self.redis.start()
        self.postgres.init()
        self.postgres.start()
        with psycopg.connect(self.postgres.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{_DATABASE}"')
        apply_migrations(self.database_url)
        env = self.env()
        for command in COMPONENTS:
            health = "healthz" if command == "processors" else "readyz"
            for i in range(self.replicas[command]):
                name = command if i == 0 else f"{command}-{i + 1}"
                port = None if i == 0 else free_port()
                self.components[name] = Component(
                    name, env, self.logs / f"{name}.log", health, command=command, port=port
                )
                self.components[name].start()
        for component in self.components.values():
            component.wait_healthy()

    def instances(self, command: str) -> list[str]:
        """The names of the running replicas of ``command``."""
        return [name for name, c in self.components.items() if c.command == command]

    def restart_redis(self) -> None:
        """Stop Redis cleanly (it fsyncs its append-only file) and start it on the same port."""
        assert self.cluster is None, "a cluster's nodes are killed and restarted one by one"
        self.redis.stop()
        self.redis.start(timeout=60.0)

    def restart_postgres(self) -> None:
        """Crash PostgreSQL (immediate shutdown) and start it again (it recovers from WAL)."""
        self.postgres.stop("immediate")
        self.postgres.start()

    def close(self) -> None:
        """End every process the stack started (components, zombies, Redis, PostgreSQL)."""
        if self._closed:
            return
        self._closed = True
        for component in [*self.zombies, *self.components.values()]:
            try:
                component.stop(timeout=10.0)
            except Exception:  # pragma: no cover - best effort: the rest must still stop
                component.kill()
        if self.cluster is not None:
            self.cluster.stop()
        self.redis.stop()
        self.postgres.stop("fast")

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
