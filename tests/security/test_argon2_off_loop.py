"""Argon2 never runs on the event loop: a burst of sign-ins cannot stall every other request.

The real dashboard app runs under uvicorn (in this process, so the test can see which
thread each Argon2 computation runs on); sign-ups, sign-ins with right and wrong
passwords and a password change go over HTTP, and every hash and verification must
have happened on a thread with no running event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn
from argon2 import PasswordHasher

from mindhit.settings import Settings
from tests.security._web import PASSWORD, Browser, unique_email
from tests.support.servers import free_port
from web.app import create_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Every Argon2 hash/verify from now on, with whether it ran on an event loop."""
    calls: list[tuple[str, bool]] = []
    real_hash, real_verify = PasswordHasher.hash, PasswordHasher.verify

    def hash_(self: PasswordHasher, password: str | bytes, **kwargs: Any) -> str:
        calls.append(("hash", _on_event_loop()))
        return real_hash(self, password, **kwargs)

    def verify(self: PasswordHasher, stored: str | bytes, password: str | bytes) -> bool:
        calls.append(("verify", _on_event_loop()))
        return real_verify(self, stored, password)

    monkeypatch.setattr(PasswordHasher, "hash", hash_)
    monkeypatch.setattr(PasswordHasher, "verify", verify)
    return calls


@pytest.fixture
def served(settings: Settings) -> Iterator[str]:
    """The real app under uvicorn on a free port, in a thread of this process."""
    port = free_port()
    app = create_app(msgspec.structs.replace(settings, secret_key="argon2-test"))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, proxy_headers=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.1)
    yield url
    server.should_exit = True
    thread.join(30)


def test_password_hashing_runs_off_the_event_loop(
    served: str, argon2_calls: list[tuple[str, bool]]
) -> None:
    email = unique_email("argon")
    user = Browser(served)
    assert user.sign_up(email).status_code == 303
    assert user.sign_out().status_code == 303
    assert user.sign_in(email, "not the password").status_code == 400
    assert user.sign_in(unique_email("nobody"), "not the password").status_code == 400
    assert user.sign_in(email).status_code == 303
    assert [call for call in argon2_calls if call[1]] == []  # none on the event loop
    changed = user.api(
        "POST",
        "/v1/account/password",
        {"current_password": PASSWORD, "new_password": "another long password"},
    )
    assert changed.status_code == 204, changed.text

    kinds = [kind for kind, _ in argon2_calls]
    assert kinds.count("hash") >= 2 and kinds.count("verify") >= 4, kinds
    assert [call for call in argon2_calls if call[1]] == []  # none on the event loop
