"""One definition per read table: its columns, how each is staged and how it merges.

Everything the adapter (:mod:`projector.pg`) needs about a read table is derived
from its :class:`ReadTable` here, so a column is named in one place only:

* the per-connection staging table a batch is COPYed into (:func:`staging_ddl`);
* the COPY column list and binary types (:attr:`ReadTable.copy_columns`,
  :attr:`ReadTable.copy_types`), read straight off the row operations of
  :mod:`projector.rows`, whose fields carry the same names (a visit is staged from its
  ``VisitClosed`` event: :attr:`ReadTable.copy_attrs`, in the stored types:
  :func:`projector.copy_rows.staged_rows`);
* the statement that merges the staged rows into the live table or its replay
  shadow (:attr:`ReadTable.upsert`, with ``{table}`` placeholders the adapter fills
  in as identifiers).

A column's merge rule is an SQL template over ``{old}`` (the stored value) and
``{new}`` (the staged one); they are the rules of :mod:`projector.rows` in SQL.
``tests/integration/projector/test_tables.py`` checks every definition against the
migrated schema, so a definition and its table cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

import msgspec
from psycopg import sql

from projector.rows import STATUS_RANK

__all__ = ["READ_TABLES", "Column", "ReadTable", "Tables", "staging_ddl", "with_tables"]

Tables = Mapping[str, str]
"""Logical read-table name → physical table name (live or shadow)."""


def with_tables(text: str, tables: Tables) -> sql.Composed:
    """``text`` with each ``{name}`` replaced by the quoted physical table ``tables[name]``."""
    return sql.SQL(text).format(**{k: sql.Identifier(v) for k, v in tables.items()})  # type: ignore[arg-type]


_TYPE_NAME: Final = {
    "int4": "integer",
    "int8": "bigint",
    "bool": "boolean",
    "timestamptz": "timestamp with time zone",
}
"""Short type names → PostgreSQL's own (``format_type``)."""
_WIRE: Final = {"uuid": "bytea", "timestamptz": "int8"}
"""Staged type → the binary COPY type whose data is the staged type's own binary form."""
_CONVERT: Final = {
    ("text", "uuid"): "{}::uuid",
    ("int8", "timestamptz"): "timestamptz 'epoch' + {} * interval '1 ms'",
    ("bytea", "jsonb"): "convert_from({}, 'UTF8')::jsonb",
}


class Column(msgspec.Struct, frozen=True):
    """One column: its staged (COPY) type, its stored type and its merge rules.

    Args:
        name: the column (and the row operation's field) name.
        staged: its type in the staging table and the binary COPY.
        live: its type in the read table; ``""`` for the staged type's own, ``None``
            for a column that is only staged (an input of a merge rule).
        merge: the stored value after merging a staged row into an existing one
            (SQL over ``{old}`` and ``{new}``); ``None`` keeps the first value.
        insert: the value of a new row (SQL over ``{new}``).
        attr: the row operation's attribute holding the value, when not ``name``
            (a visit is staged from its ``VisitClosed`` event itself).
    """

    name: str
    staged: str
    live: str | None = ""
    merge: str | None = "{new}"
    insert: str = "{new}"
    attr: str = ""

    @property
    def stored(self) -> bool:
        """Whether the read table has this column."""
        return self.live is not None

    @property
    def live_type(self) -> str:
        """The column's type in the read table, as PostgreSQL's ``format_type`` names it."""
        name = self.live or self.staged
        return _TYPE_NAME.get(name, name)

    @property
    def staged_type(self) -> str:
        """The column's type in the staging table, as ``format_type`` names it."""
        return _TYPE_NAME.get(self.staged, self.staged)

    def value(self, alias: str) -> str:
        """SQL for the staged value of ``alias`` converted to the stored type."""
        template = _CONVERT.get((self.staged, self.live or ""), "{}")
        return template.format(f"{alias}.{self.name}")


def _ms(expr: str) -> str:
    return _CONVERT[("int8", "timestamptz")].format(expr)


def _rank(expr: str) -> str:
    """SQL for :data:`projector.rows.STATUS_RANK` of a status (-1 when unknown)."""
    whens = " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in STATUS_RANK.items())
    return f"CASE {expr} {whens} ELSE -1 END"


def _if(flag: str) -> str:
    return f"CASE WHEN t.{flag} THEN {{new}} ELSE {{old}} END"


_KEEP = "COALESCE({new}, {old})"
_TEXT = "COALESCE({new}, '')"


class ReadTable(msgspec.Struct, frozen=True):
    """A read table and how staged rows are written into it.

    Args:
        name: the table (also its ``{placeholder}`` in SQL).
        staging: the per-connection staging table.
        key: the primary key's columns.
        columns: every staged column, in COPY order.
        write: ``merge`` (update existing rows by the merge rules, insert the
            others), ``replace`` (a row is written whole; an identical one changes
            nothing) or ``once`` (the first row for a key stays).
        flags: named booleans the merge rules use (``t.<name>``), as SQL over the
            staged row ``x`` and the stored row ``y``.
        owner: the column naming the user a row belongs to, when the key is an id a
            client sent (a session id) or derived from one: a staged row changes a
            stored row only when both belong to the same user, and the owner column is
            never rewritten. The adapter stages one user's rows per key (the stored
            owner's, else the first sender's: :func:`projector.staging.one_owner`), so the
            statements need not look the stored owners up row by row; should two still
            meet, the smallest user id's row is the one written (a stored row of another
            user is left as it is).
    """

    name: str
    staging: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    write: Literal["merge", "replace", "once"]
    flags: tuple[tuple[str, str], ...] = ()
    owner: str | None = None

    @property
    def copy_columns(self) -> tuple[str, ...]:
        """Staged column names, in COPY order (the row operation's field names)."""
        return tuple(c.name for c in self.columns)

    @property
    def copy_attrs(self) -> tuple[str, ...]:
        """The row operation's attributes, in COPY order."""
        return tuple(c.attr or c.name for c in self.columns)

    @property
    def copy_types(self) -> list[str]:
        """Binary COPY types of the values sent, in COPY order: a ``uuid`` column's are
        its 16 bytes (``bytea``), a ``timestamptz`` column's the microseconds since
        2000 (``int8``), as :func:`projector.copy_rows.staged_rows` builds them."""
        return [_WIRE.get(c.staged, c.staged) for c in self.columns]

    @property
    def stored(self) -> tuple[Column, ...]:
        """The columns the read table has."""
        return tuple(c for c in self.columns if c.stored)

    @property
    def upsert(self) -> str:
        """The statement(s) writing the staged rows into ``{<name>}``."""
        if self.write == "merge":
            return self._merge()
        names = ", ".join(c.name for c in self.stored)
        values = ", ".join(c.value("t") for c in self.stored)
        head = (
            f"INSERT INTO {{{self.name}}} AS cur ({names})\n"
            f"SELECT {self._one_per_key()}{values}\nFROM {self.staging} t\n"
            f"{self._owner_order()}"
            f"ON CONFLICT ({', '.join(self.key)}) DO "
        )
        if self.write == "once":
            return head + "NOTHING;"
        updates = ", ".join(
            f"{c.name} = EXCLUDED.{c.name}"
            for c in self.stored
            if c.name not in self.key and c.name != self.owner
        )
        same = f"cur.{self.owner} = EXCLUDED.{self.owner} AND " if self.owner else ""
        return head + f"UPDATE SET {updates}\nWHERE {same}(cur.*) IS DISTINCT FROM (EXCLUDED.*);"

    def _one_per_key(self) -> str:
        """``DISTINCT ON (key)`` for an owned table: two users' rows of one key never
        reach one statement (the adapter stages only one; else the smallest user id)."""
        if self.owner is None:
            return ""
        return f"DISTINCT ON ({', '.join(f't.{k}' for k in self.key)}) "

    def _owner_order(self) -> str:
        """Rows are written in key order, so two projector replicas upserting shared rows
        (page texts by content, say) lock them in the same order and never deadlock."""
        keys = ", ".join(f"t.{k}" for k in self.key)
        if self.owner is None:
            return f"ORDER BY {keys}\n"
        return f"ORDER BY {keys}, t.{self.owner}\n"

    def _owner_value(self, alias: str) -> str:
        by_name = {c.name: c for c in self.columns}
        assert self.owner is not None
        return by_name[self.owner].value(alias)

    def _match(self, stored: str, staged: str) -> str:
        by_name = {c.name: c for c in self.columns}
        return " AND ".join(f"{stored}.{k} = {by_name[k].value(staged)}" for k in self.key)

    def _merge(self) -> str:
        sets = ",\n    ".join(
            f"{c.name} = " + c.merge.format(old=f"cur.{c.name}", new=c.value("t"))
            for c in self.stored
            if c.name not in self.key and c.merge is not None
        )
        flags = "".join(f",\n        {sql} AS {name}" for name, sql in self.flags)
        names = ", ".join(c.name for c in self.stored)
        values = ",\n       ".join(c.insert.format(new=c.value("t")) for c in self.stored)
        table = f"{{{self.name}}}"
        mine = ""
        if self.owner is not None:
            mine = f" AND y.{self.owner} = {self._owner_value('x')}"
        head = f"SELECT {self._one_per_key()}{values}\nFROM {self.staging} t\n"
        exists = f"WHERE NOT EXISTS (SELECT 1 FROM {table} cur WHERE {self._match('cur', 't')})"
        keys = ", ".join(f"t.{k}" for k in self.key)
        exists += f"\nORDER BY {keys}" + (f", t.{self.owner}" if self.owner is not None else "")
        return (
            f"UPDATE {table} AS cur SET\n    {sets}\n"
            f"FROM (\n    SELECT x.*{flags}\n"
            f"    FROM {self.staging} x JOIN {table} y ON {self._match('y', 'x')}{mine}\n"
            f") AS t\nWHERE {self._match('cur', 't')};\n\n"
            f"INSERT INTO {table} ({names})\n{head}{exists};"
        )


_STATUS_WINS = (
    "x.status IS NOT NULL AND (y.status_at IS NULL OR"
    f" ({_ms('x.status_at')}, {_rank('x.status')}, COALESCE(x.status_reason, ''))"
    f" > (y.status_at, {_rank('y.status')}, y.status_reason))"
)
"""The newest ``(status_at, rank, reason)`` wins (:func:`projector.rows.merge_session`)."""

_DISCOVERY_WINS = (
    "x.discovered AND (y.first_seen_at IS NULL OR"
    f" ({_ms('x.first_seen_at')}, x.user_id::uuid) < (y.first_seen_at, y.user_id))"
)
"""The earliest discovery owns the page fields and the row (:func:`projector.rows.merge_url`)."""

_ENRICHMENT_WINS = (
    "x.enriched_at IS NOT NULL AND (y.enriched_at IS NULL OR"
    f" ({_ms('x.enriched_at')}, COALESCE(x.provider, ''), COALESCE(x.summary, ''))"
    " > (y.enriched_at, y.provider, y.summary))"
)
"""The newest ``(enriched_at, provider, summary)`` wins."""

_URL_OWNER = (
    "CASE WHEN t.dwin THEN {new}"
    " WHEN NOT t.discovered AND cur.first_seen_at IS NULL THEN LEAST({old}, {new}) ELSE {old} END"
)
"""Until someone discovers the URL, the smallest user id owns the row."""


SESSIONS = ReadTable(
    name="sessions",
    staging="tmp_sessions",
    key=("session_id",),
    write="merge",
    flags=(("win", _STATUS_WINS),),
    owner="user_id",
    columns=(
        Column("session_id", "text", "uuid"),
        Column("user_id", "text", "uuid", merge=None),
        Column("client_id", "text", merge=_KEEP, insert=_TEXT),
        Column("label", "text", merge=_KEEP, insert=_TEXT),
        Column("started_at", "int8", "timestamptz", merge="LEAST({old}, {new})"),
        Column("stopped_at", "int8", "timestamptz", merge="GREATEST({old}, {new})"),
        Column("last_event_at", "int8", "timestamptz", merge="GREATEST({old}, {new})"),
        Column("status", "text", merge=_if("win"), insert="COALESCE({new}, 'recording')"),
        Column("status_at", "int8", "timestamptz", merge=_if("win")),
        Column("status_reason", "text", merge=_if("win"), insert=_TEXT),
        Column("active_ms", "int8", merge=_KEEP, insert="COALESCE({new}, 0)"),
        Column("page_count", "int4", merge=_KEEP, insert="COALESCE({new}, 0)"),
        Column("domain_count", "int4", merge=_KEEP, insert="COALESCE({new}, 0)"),
    ),
)

URLS = ReadTable(
    name="urls",
    staging="tmp_urls",
    key=("url_hash", "content_hash"),
    write="merge",
    flags=(("dwin", _DISCOVERY_WINS), ("ewin", _ENRICHMENT_WINS)),
    columns=(
        Column("url_hash", "text"),
        Column("content_hash", "text"),
        Column("user_id", "text", "uuid", merge=_URL_OWNER),
        Column("discovered", "bool", None),
        Column("url", "text", merge=_if("dwin"), insert=_TEXT),
        Column("title", "text", merge=_if("dwin"), insert=_TEXT),
        Column("domain", "text", merge=_if("dwin"), insert=_TEXT),
        Column("lang", "text", merge=_if("dwin"), insert=_TEXT),
        Column("first_seen_at", "int8", "timestamptz", merge=_if("dwin")),
        Column("summary", "text", merge=_if("ewin"), insert=_TEXT),
        Column("tags", "text[]", merge=_if("ewin"), insert="COALESCE({new}, ARRAY[]::text[])"),
        Column("topic", "text", merge=_if("ewin"), insert=_TEXT),
        Column("provider", "text", merge=_if("ewin"), insert=_TEXT),
        Column("enriched_at", "int8", "timestamptz", merge=_if("ewin")),
    ),
)

PAGE_TEXTS = ReadTable(
    name="page_texts",
    staging="tmp_texts",
    key=("content_hash",),
    write="once",
    columns=(Column("content_hash", "text"), Column("lang", "text"), Column("text", "text")),
)

PAGE_VISITS = ReadTable(
    name="page_visits",
    staging="tmp_visits",
    key=("visit_id",),
    write="replace",
    owner="user_id",
    columns=(  # staged in the stored types: the insert copies rows as they are (copy_rows)
        Column("visit_id", "uuid"),
        Column("user_id", "uuid"),
        Column("session_id", "uuid"),
        Column("client_id", "text"),
        Column("tab_id", "int4"),
        Column("url_hash", "text"),
        Column("content_hash", "text"),
        Column("url", "text"),
        Column("title", "text"),
        Column("domain", "text"),
        Column("start_at", "timestamptz", attr="start_ts"),
        Column("end_at", "timestamptz", attr="end_ts"),
        Column("dwell_ms", "int8"),
        Column("end_reason", "text"),
        Column("opened_seq", "int8"),
    ),
)

MINDMAP_GRAPHS = ReadTable(
    name="mindmap_graphs",
    staging="tmp_mindmaps",
    key=("session_id",),
    write="replace",
    owner="user_id",
    columns=(
        Column("session_id", "text", "uuid"),
        Column("user_id", "text", "uuid"),
        Column("graph", "bytea", "jsonb"),
        Column("provider", "text"),
        Column("built_at", "int8", "timestamptz"),
    ),
)

READ_TABLES: Final[dict[str, ReadTable]] = {
    t.name: t for t in (SESSIONS, URLS, PAGE_TEXTS, PAGE_VISITS, MINDMAP_GRAPHS)
}
"""Every read table, in the order a batch writes them (sessions before mind maps)."""


def staging_ddl() -> str:
    """The per-connection staging tables every batch is COPYed into (emptied at commit)."""
    return "\n".join(
        f"CREATE TEMP TABLE IF NOT EXISTS {t.staging} ("
        + ", ".join(f"{c.name} {c.staged}" for c in t.columns)
        + ") ON COMMIT DELETE ROWS;"
        for t in READ_TABLES.values()
    )
