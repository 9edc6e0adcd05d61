"""A queue the gateway refused, then another pairing: whose account does it reach?

pytest runs the whole pipeline (gateway, processors, projector, dashboard) as processes;
``extension/shared_profile.mjs`` drives Chromium with the built extension.

One browser profile, two accounts: Ann connects it to her account and signs out everywhere
(her device token is revoked); she records a page in a session she leaves running: the
gateway refuses it and the extension keeps it queued. Bob signs up in the same browser,
connects the extension to his account and records a page. Bob's timeline shows his page
only, Ann's page reached no account (the extension deleted it when Bob connected, and says
so), and her session ended (Bob's popup does not show its label); before the fix her page
was uploaded into Bob's account with his token.

Erasure: Ann records a page, then another the gateway refuses, erases all her data, signs in
and connects again: her timeline shows only what she recorded afterwards.
Screenshots: ``test-artifacts/e2e/shared-*.png``, ``erase-*.png``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.e2e.pipeline import Pipeline, running_pipeline, serve_pages
from tests.support.extension import build_extension, run_driver

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
DRIVER = Path(__file__).parent / "extension" / "shared_profile.mjs"
PASSWORD = "a long enough password"
TEXT = " ".join(f"Line {i} of a page somebody read." for i in range(20))
PAGES = {
    "ann.html": f"<!doctype html><title>Ann's test results</title><article><p>{TEXT}</p>",
    "bob.html": f"<!doctype html><title>Bob's bread recipes</title><article><p>{TEXT}</p>",
}
for _name in ("first", "queued", "after"):  # texts of their own (a text is uploaded once)
    PAGES[f"{_name}.html"] = (
        f"<!doctype html><title>Ann's {_name} page</title><article><p>{_name}: {TEXT}</p>"
    )


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[str]:
    """A local HTTP server with Ann's and Bob's pages; yields its base URL."""
    with serve_pages(tmp_path / "pages", PAGES) as base_url:
        yield base_url


@pytest.fixture
def pipeline(redis_url: str, database_url: str, tmp_path: Path) -> Iterator[Pipeline]:
    """The four components on free ports, with a key prefix of their own."""
    with running_pipeline(
        redis_url=redis_url,
        database_url=database_url,
        data_dir=tmp_path / "data",
        logs=ARTIFACTS / "logs-shared-profile",
    ) as running:
        yield running


VISITS = (
    "SELECT v.url, v.title FROM page_visits v JOIN users u USING (user_id)"
    " WHERE u.email = %s ORDER BY v.start_at"
)
ANYONE_VISITED = "SELECT count(*) FROM page_visits WHERE url = %s"


def _rows(database_url: str, query: str, value: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return [tuple(row) for row in conn.execute(query, (value,)).fetchall()]


async def test_what_ann_queued_never_reaches_bob_who_connects_the_same_browser_next(
    pipeline: Pipeline, pages: str, database_url: str, tmp_path: Path
) -> None:
    ann = f"ann-{uuid.uuid4().hex[:8]}@example.com"
    bob = f"bob-{uuid.uuid4().hex[:8]}@example.com"
    ann_page, bob_page = f"{pages}/ann.html", f"{pages}/bob.html"

    def bob_visits() -> None:
        deadline = time.monotonic() + 90
        while not any(url == bob_page for url, _ in _rows(database_url, VISITS, bob)):
            assert time.monotonic() < deadline, _rows(database_url, VISITS, bob)
            time.sleep(0.5)

    config = {
        "scenario": "shared",
        "extensionDir": str(build_extension()),
        "profileDir": str(tmp_path / "profile"),
        "webUrl": pipeline.web_url,
        "ann": ann,
        "annLabel": "Ann's appointments",
        "bob": bob,
        "password": PASSWORD,
        "pages": {"ann": ann_page, "bob": bob_page},
        "artifacts": str(ARTIFACTS),
        "out": str(tmp_path / "shared.json"),
    }
    checks = (await run_driver(DRIVER, config, {"visits": bob_visits}))["checks"]

    assert checks["ann"]["pairing"].startswith('connected as "shared laptop (Ann)"')
    assert checks["annQueued"] > 0  # Ann's page waited in the queue, refused by the gateway
    # Bob's timeline: his page only. Ann's page: in nobody's.
    assert _rows(database_url, VISITS, bob) == [(bob_page, "Bob's bread recipes")]
    assert _rows(database_url, ANYONE_VISITED, ann_page) == [(0,)]
    # Connecting Bob deleted it, and the popup said so.
    assert checks["bob"]["pairing"].startswith('connected as "shared laptop (Bob)"')
    assert "of another account deleted" in checks["bob"]["pairing"], checks["bob"]
    assert checks["queuedAfterBob"] == 0
    # Ann's session (left running) ended: Bob's popup does not show her label, nor record on.
    assert not checks["bob"]["recording"] and checks["bob"]["sessionLabel"] == ""
    assert "Ann's appointments" not in checks["popupForBob"]


async def test_what_was_queued_before_erase_all_my_data_is_not_uploaded_after_connecting_again(
    pipeline: Pipeline, pages: str, database_url: str, tmp_path: Path
) -> None:
    ann = f"ann-{uuid.uuid4().hex[:8]}@example.com"
    first, queued, after = (f"{pages}/{n}.html" for n in ("first", "queued", "after"))

    def visited(url: str) -> None:
        deadline = time.monotonic() + 90
        while not any(seen == url for seen, _ in _rows(database_url, VISITS, ann)):
            assert time.monotonic() < deadline, _rows(database_url, VISITS, ann)
            time.sleep(0.5)

    config = {
        "scenario": "erase",
        "extensionDir": str(build_extension()),
        "profileDir": str(tmp_path / "profile"),
        "webUrl": pipeline.web_url,
        "ann": ann,
        "password": PASSWORD,
        "pages": {"first": first, "queued": queued, "after": after},
        "artifacts": str(ARTIFACTS),
        "out": str(tmp_path / "erase.json"),
    }
    control = {"first": partial(visited, first), "visits": partial(visited, after)}
    checks = (await run_driver(DRIVER, config, control))["checks"]

    assert checks["annQueued"] > 0  # the page recorded before the erasure waited in the queue
    # After the erasure her timeline holds only what she recorded since.
    assert _rows(database_url, VISITS, ann) == [(after, "Ann's after page")]
    assert _rows(database_url, ANYONE_VISITED, queued) == [(0,)]
    # Connected again, the extension deleted the old queue (a new account epoch), and said so.
    assert "of another account deleted" in checks["again"]["pairing"], checks["again"]
    assert checks["queuedAfterAgain"] == 0
