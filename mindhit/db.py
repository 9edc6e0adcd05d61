"""PostgreSQL access shared by every service: connections and numbered migrations.

Migrations are the SQL files in ``mindhit/migrations`` named ``NNN_name.sql``,
applied in order, each in its own transaction, and recorded in
``schema_migrations``. An advisory lock makes concurrent ``migrate`` runs safe.
Every adapter's longer SQL lives in files beside it (``<package>/sql/<name>.sql``),
read with :func:`sql_file`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, LiteralString, cast

import psycopg

__all__ = [
    "Migration",
    "apply_migrations",
    "connect",
    "connect_async",
    "pending_migrations",
    "sql_file",
]

_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_LOCK_ID = 0x6D696E64  # "mind"


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str


def connect(url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """Open a synchronous connection."""
    return psycopg.connect(url, **kwargs)


async def connect_async(url: str, **kwargs: Any) -> psycopg.AsyncConnection[Any]:
    """Open an asynchronous connection."""
    return await psycopg.AsyncConnection.connect(url, **kwargs)


def sql_file(package: str, name: str) -> LiteralString:
    """The text of ``<package>/sql/<name>.sql`` (SQL kept beside the adapter that runs it).

    Typed as a literal: the files ship with the code, never hold user input.
    """
    return cast(LiteralString, resources.files(package).joinpath("sql", f"{name}.sql").read_text())


def all_migrations() -> list[Migration]:
    """Every migration shipped with MindHit, in order."""
    found: list[Migration] = []
    for entry in resources.files("mindhit.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"two migrations share a number: {versions}")
    return found


def pending_migrations(conn: psycopg.Connection[Any]) -> list[Migration]:
    """Migrations not yet applied on ``conn``'s database."""
    conn.execute(sql_file("mindhit", "schema_migrations"))
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    return [m for m in all_migrations() if m.version not in done]


def apply_migrations(url: str) -> list[str]:
    """Apply pending migrations; return the names applied.

    Steps: take the advisory lock; list pending migrations; for each, run its SQL
    and record it in one transaction; release the lock.
    """
    applied: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            for migration in pending_migrations(conn):
                with conn.transaction():
                    conn.execute(migration.sql)  # type: ignore[arg-type]
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                applied.append(migration.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied
