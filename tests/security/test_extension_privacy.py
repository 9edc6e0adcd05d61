"""Issue 12, the extension collects too much: its privacy rules in real Chromium.

One browser run (``extension_privacy.mjs``) loads the built extension, signs it in
against the real gateway (a process, the shared Redis under a prefix of this module) and,
inside a recording session, shows a ``file://`` page, a ``data:`` URL, a page with hidden
text and form fields, and a URL carrying ``?code=…#frag``; then code in the extension's
content-script world (reached over CDP, so it runs with exactly a content script's rights)
tries to read the device token. Each test below checks one rule against what reached
Redis (every key under the prefix, not just the log) and, where it matters, the dwell
fold over the logged events.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest

from mindhit.accounts import create_token, create_user
from mindhit.redis_client import connect_redis, connect_redis_sync
from mindhit.settings import Settings
from processors.dwell import fold
from schema.derived import VisitClosed
from schema.events import ClientEvent, PageContent, TabActivated, TabUpdated
from tests.conftest import KEY_PREFIX
from tests.support.extension import Gateway, build_extension, logged_uploads, redis_dump, run_driver
from tests.support.servers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(240)]

DRIVER = Path(__file__).parent / "extension_privacy.mjs"
TOLERANCE_MS = 150
ARTICLE = " ".join(
    f"Sentence {i} tells how glaciers carve valleys and leave moraines." for i in range(15)
)
HIDDEN_SECRETS = (
    "hidden-attr-secret",
    "display-none-secret",
    "visibility-hidden-secret",
    "aria-hidden-secret",
    "template-secret",
    "noscript-secret",
    "hunter2-password-secret",
    "typed-into-field-secret",
    "textarea-secret",
    "editable-secret",
)
PAGES = {
    "plain.html": f"<!doctype html><title>Plain</title><article><p>plain-marker {ARTICLE}</p>",
    "hidden.html": f"""<!doctype html><html lang="en"><head><title>Hidden things</title>
<style>.gone {{ display: none }}</style></head><body><article><h1>Glaciers</h1>
<p>visible-marker {ARTICLE}</p><p>{ARTICLE}</p>
<div hidden>hidden-attr-secret</div><div class="gone">display-none-secret</div>
<p style="visibility:hidden">visibility-hidden-secret</p>
<p aria-hidden="true">aria-hidden-secret</p>
<template><p>template-secret</p></template><noscript>noscript-secret</noscript>
<form><input type="password" id="pw"><input id="typed"><textarea>textarea-secret</textarea></form>
<div contenteditable="true">editable-secret</div></article>
<script>document.getElementById("pw").value = "hunter2-password-secret";
document.getElementById("typed").value = "typed-into-field-secret";</script></body></html>""",
    "callback.html": f"<!doctype html><title>Callback</title><p>callback-marker {ARTICLE}</p>",
}
FILE_PAGE = "<!doctype html><title>Diary file-title-secret</title><p>file-body-secret</p>"
DATA_URL = "data:text/html,<title>data-title-secret</title><p>data-body-secret</p>"
SECRET_QUERY = "?code=SECRETCODE123&state=STATE456&view=inbox#frag-secret789"


@dataclass
class Run:
    """What one browser run left behind."""

    token: str
    user_id: str
    base: str
    file_url: str
    result: dict[str, Any]
    events: list[ClientEvent]
    stored: bytes  # every key and value under the module's Redis prefix

    def visits(self) -> list[VisitClosed]:
        _, folded = fold(None, self.user_id, self.events)
        return [d for d in folded.derived if isinstance(d, VisitClosed)]

    def ended_by(self, visit: VisitClosed, action: str) -> bool:
        window = self.result["actions"][action]
        return window["before"] - TOLERANCE_MS <= visit.end_ts <= window["after"] + TOLERANCE_MS


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def run(
    redis_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    """The browser run, once for the module (it takes ~15 s)."""
    tmp = tmp_path_factory.mktemp("privacy")
    (tmp / "pages").mkdir()
    for name, html in PAGES.items():
        (tmp / "pages" / name).write_text(html, encoding="utf-8")
    diary = tmp / "diary.html"
    diary.write_text(FILE_PAGE, encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(tmp / "pages")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    prefix = f"{KEY_PREFIX}-{uuid.uuid4().hex[:10]}"
    settings = Settings.from_env(
        {},
        redis_url=redis_url,
        database_url=database_url,
        key_prefix=prefix,
        data_dir=str(tmp / "data"),
        partitions=2,
    )
    gateway = Gateway(settings, free_port(), tmp / "gateway.log")
    try:
        yield asyncio.run(_browse(settings, gateway, server, diary, tmp))
    finally:
        gateway.kill()
        server.shutdown()
        server.server_close()
        client = connect_redis_sync(redis_url)
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
        client.close()


async def _browse(
    settings: Settings, gateway: Gateway, server: ThreadingHTTPServer, diary: Path, tmp: Path
) -> Run:
    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as pg:
        user = await create_user(pg, f"privacy-{uuid.uuid4().hex[:8]}@example.com")
        _, token = await create_token(pg, user.user_id, "privacy-chromium")
    gateway.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    config = {
        "extensionDir": str(build_extension()),
        "profileDir": str(tmp / "profile"),
        "gatewayUrl": gateway.url,
        "token": token,
        "dashboardUrl": base,
        "pages": {
            "plain": f"{base}/plain.html",
            "hidden": f"{base}/hidden.html",
            "secretUrl": f"{base}/callback.html{SECRET_QUERY}",
            "file": diary.as_uri(),
            "data": DATA_URL,
        },
        "out": str(tmp / "driver.json"),
    }
    result = await run_driver(DRIVER, config)
    client = connect_redis(settings.redis_url)
    try:
        uploads = await logged_uploads(client, settings)
        stored = await redis_dump(client, settings.key_prefix)
    finally:
        await client.aclose()
    events = sorted((e for u in uploads for e in u.events), key=lambda e: e.seq)
    assert {u.user_id for u in uploads} == {user.user_id}
    return Run(token, user.user_id, base, diary.as_uri(), result, events, stored)


def _tabs_during(run: Run, start: str, end: str) -> list[TabActivated | TabUpdated]:
    lo, hi = run.result["actions"][start]["before"], run.result["actions"][end]["before"]
    return [e for e in run.events if isinstance(e, TabActivated | TabUpdated) and lo <= e.ts < hi]


def test_a_file_page_is_never_recorded_and_ends_the_previous_visit(run: Run) -> None:
    for secret in (b"diary", b"file-title-secret", b"file-body-secret", b"file:"):
        assert secret not in run.stored, secret
    assert {(e.url, e.title) for e in _tabs_during(run, "file", "data")} == {("about:blank", "")}
    visits = run.visits()
    assert [v.url.rsplit("/", 1)[-1] for v in visits] == [
        "plain.html",
        "hidden.html",
        "callback.html?view=inbox",
    ]
    assert run.ended_by(visits[0], "file"), (visits[0], run.result["actions"]["file"])


def test_a_data_url_is_never_recorded(run: Run) -> None:
    for secret in (b"data-title-secret", b"data-body-secret", b"data:"):
        assert secret not in run.stored, secret
    assert {(e.url, e.title) for e in _tabs_during(run, "data", "hidden")} == {("about:blank", "")}


def test_hidden_text_and_form_fields_never_leave_the_browser(run: Run) -> None:
    texts = [e for e in run.events if isinstance(e, PageContent) and "hidden.html" in e.url]
    assert texts and all("visible-marker" in e.text for e in texts)
    for secret in HIDDEN_SECRETS:
        assert secret.encode() not in run.stored, secret


def test_secrets_in_a_url_are_stripped_before_upload(run: Run) -> None:
    for secret in (b"SECRETCODE123", b"STATE456", b"frag-secret789"):
        assert secret not in run.stored, secret
    assert not any("#" in e.url for e in run.events if hasattr(e, "url"))
    expected = f"{run.base}/callback.html?view=inbox"
    urls = {e.url for e in run.events if hasattr(e, "url") and "callback" in e.url}
    assert urls == {expected}
    content = [e for e in run.events if isinstance(e, PageContent) and e.url == expected]
    assert content and "callback-marker" in content[0].text
    assert run.visits()[-1].content_hash == content[0].content_hash


def test_a_content_script_cannot_read_the_device_token(run: Run) -> None:
    reads = run.result["checks"]["contentScript"]
    assert run.result["checks"]["signedIn"] and run.result["checks"]["workerHasToken"]
    # The probe really ran in the extension's content-script world.
    assert isinstance(reads["runtimeId"], str) and len(reads["runtimeId"]) == 32
    dumped = json.dumps(reads)
    assert run.token not in dumped, f"a content script read the token: {dumped[:500]}"
    assert run.token[:12] not in dumped
    assert str(reads["session"]).startswith("refused")
    assert reads.get("status") in (None, "refused: undefined"), reads.get("status")
    assert "mindhit-state" not in str(reads["databases"])
    assert reads["workerFile"] != 200 or "refused" in str(reads["workerFile"])
    assert msgspec.json.encode(run.token) not in run.stored
