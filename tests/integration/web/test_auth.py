"""Sign-up, sign-in, sign-out, CSRF, rate limiting and security headers on the real app."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client import generate_latest

from tests.integration.web.conftest import PASSWORD, csrf_from, sign_up, unique_email

pytestmark = pytest.mark.integration


async def _login(client: AsyncTestClient[Any], email: str, password: str) -> Any:
    token = csrf_from((await client.get("/login")).text)
    return await client.post(
        "/login",
        data={"email": email, "password": password, "_csrf_token": token},
        follow_redirects=False,
    )


async def test_sign_up_stores_an_argon2_hash_and_signs_in_with_a_secure_cookie(
    client: AsyncTestClient[Any], apg: psycopg.AsyncConnection[Any]
) -> None:
    email = unique_email()
    token = csrf_from((await client.get("/signup")).text)
    form = {"email": email, "password": PASSWORD, "password2": PASSWORD, "_csrf_token": token}
    asked = await client.post("/signup", data=form, follow_redirects=False)
    # Asking makes no account and signs nobody in: the link mailed to the address does
    # (development without SMTP shows it on the page).
    assert asked.status_code == 200 and "set-cookie" not in asked.headers
    assert (await client.get("/v1/me")).status_code == 401
    assert (
        await (await apg.execute("SELECT 1 FROM users WHERE email = %s", (email,))).fetchone()
        is None
    )
    link = re.search(r"/signup/finish\?token=([A-Za-z0-9_-]+)", asked.text)
    assert link
    answer = await client.post(
        "/signup/finish",
        data={"token": link.group(1), "password": PASSWORD, "_csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"].lower()
    assert "mh_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    row = await (
        await apg.execute("SELECT password_hash FROM users WHERE email = %s", (email,))
    ).fetchone()
    assert row is not None and row[0].startswith("$argon2id$") and PASSWORD not in row[0]
    assert (await client.get("/v1/me")).json()["email"] == email


async def test_wrong_password_is_refused_and_sign_out_ends_the_session(
    client: AsyncTestClient[Any],
) -> None:
    email = unique_email()
    token = await sign_up(client, email)
    await client.post("/logout", data={"_csrf_token": token}, follow_redirects=False)
    assert (await client.get("/v1/me")).status_code == 401
    refused = await _login(client, email, "not the password")
    assert refused.status_code == 400 and "do not match" in refused.text
    assert (await _login(client, email, PASSWORD)).status_code == 303
    assert (await client.get("/v1/me")).status_code == 200


async def test_sign_in_is_throttled_per_email_and_address(client: AsyncTestClient[Any]) -> None:
    email = unique_email()
    token = await sign_up(client, email)
    await client.post("/logout", data={"_csrf_token": token}, follow_redirects=False)
    for _ in range(5):
        assert (await _login(client, email, "wrong password!")).status_code == 400
    blocked = await _login(client, email, PASSWORD)  # even the right password now waits
    assert blocked.status_code == 429 and "Too many sign-in attempts" in blocked.text


async def test_unsafe_requests_without_the_csrf_token_are_refused(
    client: AsyncTestClient[Any],
) -> None:
    await sign_up(client, unique_email())
    assert (await client.post("/v1/tokens", json={"device": "x"})).status_code == 403
    form = await client.post("/settings/tokens", data={"device": "x"}, follow_redirects=False)
    assert form.status_code == 403


async def test_signed_out_visitors_are_sent_to_sign_in_and_the_api_says_401(
    client: AsyncTestClient[Any],
) -> None:
    page = await client.get("/sessions", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fsessions"
    api = await client.get("/v1/sessions")
    assert api.status_code == 401 and api.json()["status_code"] == 401


async def test_every_page_carries_a_strict_content_security_policy(
    client: AsyncTestClient[Any],
) -> None:
    answer = await client.get("/login")
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    scripts = re.findall(r"<script[^>]*>", answer.text)
    assert scripts and all(re.fullmatch(r'<script src="/static/[^"]+" defer>', s) for s in scripts)


async def test_readiness_and_metrics_for_operators(client: AsyncTestClient[Any]) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "redis": "ok", "postgres": "ok"}
    email = unique_email()
    token = await sign_up(client, email)
    await client.post("/logout", data={"_csrf_token": token}, follow_redirects=False)
    await _login(client, email, "wrong password!")
    # the public port serves no metrics; the internal listener serves this registry
    assert (await client.get("/metrics")).status_code == 404
    text = generate_latest(client.app.state.metrics.registry).decode()
    assert 'mindhit_web_signins_total{outcome="wrong"} 1.0' in text
    assert 'route="/signup"' in text and "mindhit_web_request_seconds_bucket" in text


async def test_account_creation_is_rate_limited_per_address(client: AsyncTestClient[Any]) -> None:
    token = csrf_from((await client.get("/signup")).text)
    answers = []
    for _ in range(11):
        answer = await client.post(
            "/signup",
            data={
                "email": unique_email("burst"),
                "password": "x",
                "password2": "x",
                "_csrf_token": token,
            },
            follow_redirects=False,
        )
        answers.append(answer.status_code)
    assert answers[:10] == [400] * 10  # refused for the short password, but counted
    assert answers[10] == 429
