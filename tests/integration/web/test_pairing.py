"""Pairing the extension through the dashboard: one-time codes, PKCE, scoping, no-store."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from mindhit.accounts import lookup_token
from mindhit.settings import Settings
from tests.integration.web.conftest import csrf_from, sign_up, unique_email, user_id_of
from web.pairing_store import CODE_TTL_S, ISSUE_LIMIT

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(32)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


async def confirm(client: AsyncTestClient[Any], challenge: str, device: str = "laptop") -> str:
    """Open the pairing page signed in, confirm it; return the code from the redirect."""
    page = await client.get("/pair", params={"challenge": challenge, "device": device})
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    answer = await client.post(
        "/pair",
        data={"challenge": challenge, "device": device, "_csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["cache-control"] == "no-store"
    match = re.fullmatch(r"/pair/done#code=([A-Za-z0-9_-]{43})", answer.headers["location"])
    assert match, answer.headers["location"]
    return match.group(1)


async def test_a_confirmed_code_gives_the_extension_a_token_of_that_user_once(
    client: AsyncTestClient[Any],
    web_settings: Settings,
    apg: psycopg.AsyncConnection[Any],
    aredis: aioredis.Redis,
) -> None:
    email = unique_email("pair")
    await sign_up(client, email)
    verifier, challenge = pkce()
    page = await client.get("/pair", params={"challenge": challenge, "device": "Chrome on Linux"})
    assert email in page.text and 'value="Chrome on Linux"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    code = await confirm(client, challenge, device="work laptop")
    keys = [k async for k in aredis.scan_iter(match=f"{web_settings.key_prefix}:web:pairing:*")]
    assert len(keys) == 1 and code.encode() not in keys[0]  # only the code's hash is stored
    assert 0 < await aredis.ttl(keys[0]) <= CODE_TTL_S

    # The extension exchanges without cookie or CSRF token (a client of its own).
    from web.app import create_app

    async with AsyncTestClient(app=create_app(web_settings)) as extension:
        done = await extension.get("/pair/done")
        assert done.status_code == 200 and done.headers["cache-control"] == "no-store"
        answer = await extension.post(
            "/v1/pairing/exchange", json={"code": code, "verifier": verifier}
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        paired = answer.json()
        again = await extension.post(
            "/v1/pairing/exchange", json={"code": code, "verifier": verifier}
        )
        assert again.status_code == 400 and "not valid" in again.json()["detail"]
    assert paired["device"] == "work laptop"
    assert paired["gateway_url"] == f"http://127.0.0.1:{web_settings.gateway_port}"
    info = await lookup_token(apg, paired["token"])
    assert info is not None and info.user_id == await user_id_of(apg, email)
    tokens = (await client.get("/v1/tokens")).json()
    assert [t["device"] for t in tokens] == ["work laptop"]
    assert paired["token"] not in str(tokens)


async def test_a_wrong_verifier_burns_the_code_and_another_users_cookie_changes_nothing(
    client: AsyncTestClient[Any], web_settings: Settings, apg: psycopg.AsyncConnection[Any]
) -> None:
    from web.app import create_app

    victim = unique_email("victim")
    await sign_up(client, victim)
    verifier, challenge = pkce()
    code = await confirm(client, challenge)
    wrong, _ = pkce()
    burned = await client.post("/v1/pairing/exchange", json={"code": code, "verifier": wrong})
    assert burned.status_code == 400
    late = await client.post("/v1/pairing/exchange", json={"code": code, "verifier": verifier})
    assert late.status_code == 400
    # A code is the victim's even when someone else's session exchanges it.
    code = await confirm(client, challenge)
    async with AsyncTestClient(app=create_app(web_settings)) as attacker:
        await sign_up(attacker, unique_email("attacker"))
        answer = await attacker.post(
            "/v1/pairing/exchange", json={"code": code, "verifier": verifier}
        )
    info = await lookup_token(apg, answer.json()["token"])
    assert info is not None and info.user_id == await user_id_of(apg, victim)


async def test_the_pairing_page_needs_a_signed_in_user_a_csrf_token_and_a_valid_link(
    client: AsyncTestClient[Any],
) -> None:
    _, challenge = pkce()
    signed_out = await client.get("/pair", params={"challenge": challenge})
    assert signed_out.status_code == 200 and "Sign in" in signed_out.text
    assert 'action="/pair"' not in signed_out.text
    bad_link = await client.get("/pair", params={"challenge": "short"})
    assert bad_link.status_code == 400 and "click Connect" in bad_link.text
    token = await sign_up(client, unique_email())
    no_csrf = await client.post(
        "/pair", data={"challenge": challenge, "device": "x"}, follow_redirects=False
    )
    assert no_csrf.status_code == 403
    no_name = await client.post(
        "/pair",
        data={"challenge": challenge, "device": " ", "_csrf_token": token},
        follow_redirects=False,
    )
    assert no_name.status_code == 400 and "Name the device" in no_name.text


async def test_the_api_issues_codes_with_csrf_and_limits_them_per_user(
    client: AsyncTestClient[Any],
) -> None:
    verifier, challenge = pkce()
    body = {"device": "api", "challenge": challenge}
    assert (await client.post("/v1/pairing/codes", json=body)).status_code in (401, 403)
    token = await sign_up(client, unique_email())
    assert (await client.post("/v1/pairing/codes", json=body)).status_code == 403  # no CSRF
    headers = {"x-csrftoken": token}
    bad = await client.post("/v1/pairing/codes", json={**body, "challenge": "x"}, headers=headers)
    assert bad.status_code == 400 and "challenge" in bad.text
    issued = await client.post("/v1/pairing/codes", json=body, headers=headers)
    assert issued.status_code == 201 and issued.headers["cache-control"] == "no-store"
    assert issued.json()["expires_in_s"] == CODE_TTL_S
    exchanged = await client.post(
        "/v1/pairing/exchange", json={"code": issued.json()["code"], "verifier": verifier}
    )
    assert exchanged.status_code == 200
    for _ in range(ISSUE_LIMIT - 1):
        assert (await client.post("/v1/pairing/codes", json=body, headers=headers)).is_success
    limited = await client.post("/v1/pairing/codes", json=body, headers=headers)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


async def test_the_pairing_api_is_in_the_openapi_document(client: AsyncTestClient[Any]) -> None:
    doc = (await client.get("/schema/openapi.json")).json()
    assert {"post"} <= set(doc["paths"]["/v1/pairing/codes"])
    exchange = doc["paths"]["/v1/pairing/exchange"]["post"]
    assert exchange["servers"][0]["description"] == "dashboard"
    assert {"PairedDevice", "PairingExchange", "PairingCode"} <= set(doc["components"]["schemas"])


@pytest.mark.parametrize("ending", ["sign-out-everywhere", "erase"])
async def test_a_code_dies_with_the_sign_in_that_issued_it(
    client: AsyncTestClient[Any], web_settings: Settings, ending: str
) -> None:
    """A code issued by a browser whose sign-in was then ended ("sign out everywhere",
    a password change, "erase all my data") gives no token: else whoever had the cookie
    (a stolen one, say) could still pair a device of theirs for two minutes after the
    owner ended every sign-in, and upload into their history; an erasure would be
    followed by new recordings though it revoked every token."""
    await sign_up(client, unique_email("pairend"))
    verifier, challenge = pkce()
    code = await confirm(client, challenge)
    token = csrf_from((await client.get("/settings")).text)
    if ending == "erase":
        done = await client.post(
            "/settings/erase", data={"confirm": "ERASE", "_csrf_token": token},
            follow_redirects=False,
        )  # fmt: skip
    else:
        done = await client.post("/v1/account/sign-out-everywhere", headers={"x-csrftoken": token})
    assert done.status_code in (200, 303), done.text
    from web.app import create_app

    async with AsyncTestClient(app=create_app(web_settings)) as extension:
        answer = await extension.post(
            "/v1/pairing/exchange", json={"code": code, "verifier": verifier}
        )
    assert answer.status_code == 400, answer.text
    assert "not valid" in answer.json()["detail"]
