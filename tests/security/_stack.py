"""The whole pipeline for attacker/victim tests, and one person using it over HTTP.

:func:`running_stack` starts the real gateway, processors, projector and dashboard
(:mod:`tests.e2e.pipeline`) against the test database with a private key prefix.
:class:`Person` signs up in the dashboard, creates a device token there, records
browsing by posting event batches to the gateway (as the extension does) and reads
what the dashboard shows them: their timeline, search, overview, export and mind map.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg

from schema.api import EventBatch
from schema.events import (
    ClientEvent,
    PageContent,
    SessionStarted,
    SessionStopped,
    TabActivated,
    TabRemoved,
    WindowFocus,
)
from schema.ids import uuid7
from tests.e2e.pipeline import Pipeline, running_pipeline
from tests.security._web import ARTIFACTS, Browser, unique_email
from tests.support.workers import test_database_name

__all__ = ["Page", "Person", "running_stack", "sha256"]


def sha256(text: str) -> str:
    """Hex SHA-256 of ``text`` as UTF-8 (what the extension sends as ``content_hash``)."""
    return hashlib.sha256(text.encode()).hexdigest()


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """One page read in a recorded session: shown for ``dwell_ms``; its text is sent
    with ``content_hash`` (its SHA-256 unless a test lies), or no content at all."""

    url: str
    title: str = ""
    text: str | None = None
    content_hash: str | None = None
    dwell_ms: int = 60_000


@contextmanager
def running_stack(tmp: Path, name: str) -> Iterator[Pipeline]:
    """The four components, their logs under ``test-artifacts/security/<name>``."""
    with running_pipeline(
        redis_url=_env("MINDHIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        database_url=_database_url(),
        data_dir=tmp,
        logs=ARTIFACTS / name,
    ) as stack:
        yield stack


def _env(name: str, default: str) -> str:
    import os

    return os.environ.get(name, default)


def _database_url() -> str:
    admin = _env("MINDHIT_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    return f"{admin.rpartition('/')[0]}/{test_database_name()}"


class Person:
    """Someone with an account: a browser on the dashboard and a device token."""

    def __init__(self, stack: Pipeline, tag: str, source: str) -> None:
        self.stack = stack
        self.email = unique_email(tag)
        self.browser = Browser(stack.web_url, source=source)
        assert self.browser.sign_up(self.email).status_code == 303
        created = self.browser.api("POST", "/v1/tokens", {"device": f"{tag} laptop"})
        assert created.status_code == 201, created.text
        self.token = created.json()["token"]
        self.user_id = self.browser.me().json()["user_id"]
        self.client_id = f"ext-{uuid.uuid4().hex[:12]}"
        self._seq = 0

    def close(self) -> None:
        """Close the browser's connections."""
        self.browser.close()

    # ------------------------------------------------------------------ recording
    def upload(self, events: list[ClientEvent], client_id: str | None = None) -> dict[str, Any]:
        """POST one batch to the gateway as the extension does; the 202 answer."""
        batch = EventBatch(batch_id=uuid7(), client_id=client_id or self.client_id, events=events)
        answer = httpx.post(
            f"{self.stack.gateway_url}/v1/events",
            content=msgspec.json.encode(batch),
            headers={"authorization": f"Bearer {self.token}", "content-type": "application/json"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        return dict(answer.json())

    def session_events(
        self,
        pages: list[Page],
        *,
        session_id: str | None = None,
        client_id: str | None = None,
        first_seq: int | None = None,
    ) -> tuple[str, list[ClientEvent]]:
        """A whole recorded session reading ``pages`` one after another in one tab."""
        client = client_id or self.client_id
        sid = session_id or uuid7()
        if first_seq is None:
            first_seq = self._seq + 1
        seq = iter(range(first_seq, first_seq + 10_000))
        t = int(time.time() * 1000) - sum(p.dwell_ms for p in pages) - 60_000

        def env(ts: int) -> dict[str, Any]:
            return {
                "event_id": uuid7(ts),
                "client_id": client,
                "session_id": sid,
                "seq": next(seq),
                "ts": ts,
            }

        events: list[ClientEvent] = [
            SessionStarted(**env(t), label="reading"),
            WindowFocus(**env(t + 10), focused=True, window_id=1),
        ]
        t += 100
        for tab, page in enumerate(pages, start=1):
            events.append(
                TabActivated(**env(t), tab_id=tab, window_id=1, url=page.url, title=page.title)
            )
            if page.text is not None:
                events.append(
                    PageContent(
                        **env(t + 50),
                        tab_id=tab,
                        url=page.url,
                        title=page.title,
                        lang="en",
                        text=page.text,
                        content_hash=page.content_hash or sha256(page.text),
                    )
                )
            t += page.dwell_ms
        events += [
            TabRemoved(**env(t), tab_id=len(pages), window_id=1),
            SessionStopped(**env(t + 100)),
        ]
        self._seq = max(self._seq, first_seq + len(events))
        return sid, events

    def record(self, pages: list[Page], **kwargs: Any) -> str:
        """Record and upload a session; its id (wait with :meth:`wait_done`)."""
        sid, events = self.session_events(pages, **kwargs)
        answer = self.upload(events, kwargs.get("client_id"))
        assert answer["accepted"] == len(events) and not answer["rejected"], answer
        return sid

    def wait_done(self, session_id: str, timeout_s: float = 120.0) -> None:
        """Wait until the dashboard shows the session ready (visits and map stored) and the
        overview's rollups (the search's titles among them) hold its visits: they catch up
        behind the timeline (the projector's overview drainer)."""
        deadline = time.monotonic() + timeout_s
        while True:
            answer = self.browser.client.get(
                f"/v1/sessions/{session_id}", headers={"accept": "application/json"}
            )
            if answer.status_code == 200 and answer.json()["session"]["status"] == "ready":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"session {session_id} not completed: {answer.text[:500]}")
            time.sleep(0.5)
        wait_rows(
            _database_url(),
            "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM overview_changes WHERE user_id = %s)"
            " AND NOT EXISTS (SELECT 1 FROM overview_change_refs)",  # references: any user's
            (self.user_id,),
            timeout_s=max(1.0, deadline - time.monotonic()),
        )

    # -------------------------------------------------------------------- reading
    def get(self, path: str, **params: Any) -> Any:
        """A dashboard JSON API answer (asserting 200)."""
        answer = self.browser.client.get(
            path, params=params, headers={"accept": "application/json"}
        )
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:500])
        return answer.json()

    def timeline(self, session_id: str) -> list[dict[str, Any]]:
        """The visits of one session as the timeline API shows them."""
        body = self.get(f"/v1/sessions/{session_id}")
        return [e["visit"] for e in body["entries"] if e["kind"] == "visit"]

    def search(self, query: str) -> list[dict[str, Any]]:
        """Search hits."""
        return list(self.get("/v1/search", q=query)["hits"])

    def mindmap(self, session_id: str) -> dict[str, Any]:
        """The session's mind map view."""
        return dict(self.get(f"/v1/sessions/{session_id}/mindmap"))

    def overview(self) -> dict[str, Any]:
        """This month's overview."""
        return dict(self.get("/v1/overview/", period="month"))

    def export(self) -> dict[str, str]:
        """Every file of "export all my data", by name."""
        answer = self.browser.client.get("/v1/export")
        assert answer.status_code == 200, answer.text[:500]
        with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
            return {n: archive.read(n).decode() for n in archive.namelist()}

    def everything_shown(self, session_id: str, query: str) -> str:
        """All a person can read about their data: timeline, search, map, overview, export."""
        return json.dumps(
            [
                self.timeline(session_id),
                self.search(query),
                self.mindmap(session_id),
                self.overview(),
                self.export(),
            ]
        )


def wait_rows(database_url: str, query: str, params: Any, timeout_s: float = 90.0) -> None:
    """Wait until ``query`` returns a row (a condition on the projected tables)."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(database_url, autocommit=True) as conn:
        while conn.execute(query, params).fetchone() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no row for {query!r} {params!r}")
            time.sleep(0.5)
