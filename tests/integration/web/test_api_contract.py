"""Every dashboard API answer matches the schema the combined OpenAPI document promises."""

from __future__ import annotations

from typing import Any

import jsonschema
import psycopg
import pytest
from litestar.testing import AsyncTestClient
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.integration.web.conftest import add_session, sign_up, unique_email, user_id_of
from tests.integration.web.test_pages import MAP, VISITS

pytestmark = pytest.mark.integration


def _validator(doc: dict[str, Any], path: str, method: str, status: str) -> Any:
    operation = doc["paths"][path][method]
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    # The response schema refers to #/components/...: validate it as part of the document.
    probe = {**doc, "__probe__": schema}
    registry: Registry[Any] = Registry().with_resource(
        "urn:openapi", Resource.from_contents(probe, default_specification=DRAFT202012)
    )
    return jsonschema.Draft202012Validator({"$ref": "urn:openapi#/__probe__"}, registry=registry)


async def test_dashboard_answers_match_their_documented_schemas(
    client: AsyncTestClient[Any], apg: psycopg.AsyncConnection[Any]
) -> None:
    email = unique_email()
    token = await sign_up(client, email)
    sid = await add_session(apg, await user_id_of(apg, email), visits=VISITS, mindmap=MAP)
    await client.post("/v1/tokens", json={"device": "laptop"}, headers={"x-csrftoken": token})
    doc = (await client.get("/schema/openapi.json")).json()
    checks = [
        ("/v1/me", "/v1/me"),
        ("/v1/sessions", "/v1/sessions"),
        ("/v1/sessions/{session_id}", f"/v1/sessions/{sid}"),
        ("/v1/sessions/{session_id}/mindmap", f"/v1/sessions/{sid}/mindmap"),
        ("/v1/search", "/v1/search?q=nebula"),
        ("/v1/settings", "/v1/settings"),
        ("/v1/tokens", "/v1/tokens"),
        ("/v1/health", "/v1/health"),
    ]
    for template, url in checks:
        answer = await client.get(url)
        assert answer.status_code == 200, url
        _validator(doc, template, "get", "200").validate(answer.json())
    # Wrong shapes are caught, so the check above is not vacuous.
    with pytest.raises(jsonschema.ValidationError):
        _validator(doc, "/v1/me", "get", "200").validate({"email": 3})


async def test_account_endpoints_are_documented_and_answer_as_documented(
    client: AsyncTestClient[Any],
) -> None:
    token = await sign_up(client, unique_email())
    doc = (await client.get("/schema/openapi.json")).json()
    documented = {
        "/v1/account/password": {"204", "400", "429"},
        "/v1/account/sign-out-everywhere": {"200"},
        "/v1/account/email/resend": {"202", "403", "429"},
        "/v1/account/email/confirm": {"204", "400"},
    }
    for path, statuses in documented.items():
        operation = doc["paths"][path]["post"]
        assert operation["summary"] and operation["servers"][0]["description"] == "dashboard"
        assert set(operation["responses"]) == statuses, path
    headers = {"x-csrftoken": token}
    me = await client.get("/v1/me")
    _validator(doc, "/v1/me", "get", "200").validate(me.json())
    assert me.json()["email_confirmed"] is False and me.json()["has_password"] is True
    resent = await client.post("/v1/account/email/resend", headers=headers)
    assert resent.status_code == 202
    _validator(doc, "/v1/account/email/resend", "post", "202").validate(resent.json())
    bad = await client.post("/v1/account/email/confirm", json={"token": "nope"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "token"
    short = await client.post(
        "/v1/account/password",
        json={"current_password": "x", "new_password": "short"},
        headers=headers,
    )
    assert short.status_code == 400 and short.json()["extra"][0]["key"] == "new_password"
    ended = await client.post("/v1/account/sign-out-everywhere", headers=headers)
    _validator(doc, "/v1/account/sign-out-everywhere", "post", "200").validate(ended.json())
    assert (await client.get("/v1/me")).status_code == 401
