"""Who gets a session report: the user's confirmed address, if they turned reports on."""

from __future__ import annotations

from importlib import resources

import psycopg

__all__ = ["PostgresRecipients"]

_SQL = resources.files(__package__).joinpath("recipient.sql").read_text()


class PostgresRecipients:
    """Looks up report recipients in the accounts tables (one short connection per report)."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url

    async def __call__(self, user_id: str) -> str | None:
        """The user's email when ``email_reports`` is on and the address is confirmed."""
        async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
            cursor = await conn.execute(_SQL, {"user_id": user_id})
            row = await cursor.fetchone()
        return str(row[0]) if row else None
