"""Accounts: a way in for users the operator made, password change, signing out everywhere,
and answers that carry secrets never being cached.

Each test drives the real dashboard process over HTTP (and the operator's real command
line), with the account's owner in one browser and whoever holds another of its sign-ins
(a stolen session, a shared computer) in another; the device tokens are tried at the real
gateway process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from schema.ids import uuid7
from tests.security._gateway import GatewayServer, running_gateway
from tests.security._web import PASSWORD, Browser, WebServer, mindhit_cli, running_web, unique_email

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture(scope="module")
def web(redis_url: str, database_url: str) -> Iterator[WebServer]:
    """The dashboard (development: account mail is logged)."""
    with running_web(redis_url, database_url) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(redis_url: str, database_url: str) -> Iterator[GatewayServer]:
    """The gateway, caching token lookups for 1 s (a revocation counts within that)."""
    with running_gateway(redis_url, database_url, MINDHIT_TOKEN_CACHE_SECONDS="1") as server:
        yield server


def _upload(gateway: GatewayServer, token: str) -> int:
    """The gateway's status for an empty upload with ``token`` (what the extension sends)."""
    body = {"batch_id": uuid7(), "client_id": "ext-1", "events": []}
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(
        f"{gateway.url}/v1/events", json=body, headers=headers, timeout=30
    ).status_code


def _after_cache(gateway: GatewayServer, token: str) -> int:
    """The gateway's status for ``token`` once its cached lookup (1 s) has run out."""
    time.sleep(1.2)
    return _upload(gateway, token)


def _signed_up(web: WebServer, tag: str, source: str) -> tuple[Browser, str]:
    browser = Browser(web.url, source=source)
    email = unique_email(tag)
    assert browser.sign_up(email).status_code == 303
    return browser, email


def test_a_user_made_on_the_command_line_sets_a_password_and_signs_in(
    web: WebServer, redis_url: str, database_url: str
) -> None:
    email = unique_email("cli")
    made = mindhit_cli(redis_url, database_url, "user", "create", email)
    assert made.returncode == 0 and "mindhit user password" in made.stdout
    user = Browser(web.url, source="127.0.0.20")
    assert user.sign_in(email, "anything at all").status_code == 400  # no password yet
    short = mindhit_cli(redis_url, database_url, "user", "password", email, "--stdin", stdin="x\n")
    assert short.returncode != 0 and "at least 10" in short.stderr
    done = mindhit_cli(
        redis_url, database_url, "user", "password", email, "--stdin", stdin=f"{PASSWORD}\n"
    )
    assert done.returncode == 0, done.stderr
    assert user.sign_in(email).status_code == 303
    me = user.me().json()
    assert me["email"] == email and me["has_password"] and me["email_confirmed"]


def test_a_one_time_sign_in_link_lets_a_passwordless_user_in_once(
    web: WebServer, redis_url: str, database_url: str
) -> None:
    email = unique_email("link")
    assert mindhit_cli(redis_url, database_url, "user", "create", email).returncode == 0
    printed = mindhit_cli(
        redis_url, database_url, "user", "link", email, MINDHIT_PUBLIC_URL=web.url
    )
    assert printed.returncode == 0, printed.stderr
    link = printed.stdout.strip().splitlines()[-1]
    assert link.startswith(f"{web.url}/signin-link?token=")
    token = link.split("token=")[1]

    user = Browser(web.url, source="127.0.0.21")
    page = user.page(link.removeprefix(web.url))  # a GET (a mail scanner) spends nothing
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert user.form("/signin-link", {"token": token}).status_code == 303
    me = user.me().json()
    assert me["email"] == email and me["has_password"] is False
    # Now set a password (none yet, so no current one is asked for) and use it.
    set_it = user.form("/settings/password", {"new_password": PASSWORD, "new_password2": PASSWORD})
    assert set_it.status_code == 303
    assert Browser(web.url, source="127.0.0.21").sign_in(email).status_code == 303

    other = Browser(web.url, source="127.0.0.22")
    other.page("/signin-link?token=" + token)
    assert other.form("/signin-link", {"token": token}).status_code == 400  # used once
    assert other.me().status_code == 401


def test_changing_the_password_needs_the_current_one_and_signs_out_other_browsers(
    web: WebServer,
) -> None:
    owner, email = _signed_up(web, "change", "127.0.0.23")
    stolen = Browser(web.url, source="127.0.0.24")  # a second sign-in: a stolen session
    assert stolen.sign_in(email).status_code == 303

    # Holding a session is not knowing the password: no change without the current one.
    missing = stolen.api("POST", "/v1/account/password", {"new_password": "taken over!!"})
    assert missing.status_code == 400
    assert missing.json()["extra"][0]["key"] == "current_password"
    wrong = stolen.api(
        "POST",
        "/v1/account/password",
        {"current_password": "a guess!", "new_password": "taken over!!"},
    )
    assert wrong.status_code == 400

    changed = owner.api(
        "POST",
        "/v1/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 204, changed.text
    assert stolen.me().status_code == 401  # every other browser is signed out
    assert owner.me().status_code == 200  # this one stays
    fresh = Browser(web.url, source="127.0.0.25")
    assert fresh.sign_in(email).status_code == 400  # the old password is gone
    assert fresh.sign_in(email, NEW_PASSWORD).status_code == 303


def test_sign_out_everywhere_ends_every_session(web: WebServer) -> None:
    owner, email = _signed_up(web, "everywhere", "127.0.0.26")
    others = [Browser(web.url, source="127.0.0.27") for _ in range(2)]
    for other in others:
        assert other.sign_in(email).status_code == 303
    assert 'Signed in on <b id="browser-count">3</b>' in owner.page("/settings").text
    answer = owner.api("POST", "/v1/account/sign-out-everywhere")
    assert answer.status_code == 200 and answer.json()["ended"] == 3
    assert [b.me().status_code for b in [owner, *others]] == [401, 401, 401]

    # The same from the settings page's button.
    assert others[0].sign_in(email).status_code == 303
    others[0].page("/settings")
    assert others[0].form("/settings/sign-out-everywhere", {}).status_code == 303
    assert others[0].me().status_code == 401


def test_sign_out_everywhere_unpairs_every_device(web: WebServer, gateway: GatewayServer) -> None:
    owner, email = _signed_up(web, "unpair", "127.0.0.29")
    settings = owner.page("/settings").text
    assert "disconnects every paired extension" in settings  # the button says what it does
    mine = owner.api("POST", "/v1/tokens", {"device": "my laptop"}).json()["token"]
    thief = Browser(web.url, source="127.0.0.30")  # a stolen sign-in pairs a device of its own
    assert thief.sign_in(email).status_code == 303
    thief.page("/settings")
    stolen = thief.api("POST", "/v1/tokens", {"device": "not mine"}).json()["token"]
    assert [_upload(gateway, t) for t in (mine, stolen)] == [202, 202]

    answer = owner.api("POST", "/v1/account/sign-out-everywhere")
    assert answer.status_code == 200
    assert answer.json() == {"ended": 2, "tokens_revoked": 2}
    assert [_after_cache(gateway, t) for t in (mine, stolen)] == [403, 403]
    # Nor does the ended sign-in make another.
    assert thief.api("POST", "/v1/tokens", {"device": "again"}).status_code == 401

    # The settings page's button does the same.
    assert owner.sign_in(email).status_code == 303
    owner.page("/settings")
    again = owner.api("POST", "/v1/tokens", {"device": "re-paired"}).json()["token"]
    assert _upload(gateway, again) == 202
    assert owner.form("/settings/sign-out-everywhere", {}).status_code == 303
    assert _after_cache(gateway, again) == 403


def test_a_password_change_unpairs_every_device(web: WebServer, gateway: GatewayServer) -> None:
    owner, email = _signed_up(web, "repass", "127.0.0.31")
    assert "disconnects every paired extension" in owner.page("/settings").text
    thief = Browser(web.url, source="127.0.0.32")
    assert thief.sign_in(email).status_code == 303
    thief.page("/settings")
    stolen = thief.api("POST", "/v1/tokens", {"device": "not mine"}).json()["token"]
    assert _upload(gateway, stolen) == 202

    changed = owner.api(
        "POST",
        "/v1/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 204, changed.text
    assert _after_cache(gateway, stolen) == 403
    listed = owner.api("GET", "/v1/tokens").json()
    assert [(t["device"], t["revoked"]) for t in listed] == [("not mine", True)]


def test_answers_that_carry_secrets_are_never_cached(web: WebServer) -> None:
    owner, _ = _signed_up(web, "cache", "127.0.0.28")
    owner.page("/settings")
    page = owner.form("/settings/tokens", {"device": "laptop"})
    assert page.status_code == 200 and 'id="new-token"' in page.text
    assert page.headers["cache-control"] == "no-store"
    api = owner.api("POST", "/v1/tokens", {"device": "phone"})
    assert api.status_code == 201 and api.json()["token"].startswith("mh_")
    assert api.headers["cache-control"] == "no-store"
    for path in ("/settings", "/sessions", "/v1/me", "/v1/tokens", "/login"):
        assert owner.client.get(path).headers.get("cache-control") == "no-store", path
