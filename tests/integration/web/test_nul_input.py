"""A NUL character in a dashboard request is a 400 naming the field, never a 500.

PostgreSQL stores no NUL in text: a search for one failed its query, and a session
label or device name holding one would have been stored nowhere or, through the event
log, met again by every reader. Names and searches without one work as before.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from schema.nul import NUL_REASON

from .conftest import add_session, sign_up, unique_email, user_id_of

pytestmark = pytest.mark.integration

SETTINGS = {"idle_threshold_s": 60, "email_reports": False}


async def test_a_nul_in_a_query_path_json_or_form_field_is_a_400_naming_it(
    client: AsyncTestClient[Any], apg: psycopg.AsyncConnection[Any]
) -> None:
    email = unique_email("nul")
    token = await sign_up(client, email)
    session = await add_session(apg, await user_id_of(apg, email), label="Before")
    csrf = {"x-csrftoken": token}
    asked = {
        "q": await client.get("/v1/search?q=a%00b"),
        "label": await client.post("/v1/sessions/start?label=a%00b", headers=csrf),
        "device": await client.post("/v1/tokens", headers=csrf, json={"device": "a\x00b"}),
        "blocked_domains[0]": await client.put(
            "/v1/settings", headers=csrf, json={"blocked_domains": ["a\x00b.com"], **SETTINGS}
        ),
        "path": await client.get("/v1/sessions/a%00b"),
    }
    for field, answer in asked.items():
        assert answer.status_code == 400, (field, answer.text)
        assert answer.json()["extra"] == [{"key": field, "message": NUL_REASON}], answer.text
    page = await client.get("/search?q=a%00b")  # a page: its error page, not a 500
    assert page.status_code == 400
    renamed = await client.post(
        f"/sessions/{session}/rename",
        data={"label": "a\x00b", "_csrf_token": token},
        follow_redirects=False,
    )
    assert renamed.status_code == 400
    # The same requests without a NUL work (a JSON text that only says \u0000 included).
    assert (await client.get("/v1/search?q=ab")).status_code == 200
    made = await client.post("/v1/tokens", headers=csrf, json={"device": "says \\u0000"})
    assert made.status_code == 201 and made.json()["device"] == "says \\u0000"
    renamed = await client.post(
        f"/sessions/{session}/rename",
        data={"label": "After", "_csrf_token": token},
        follow_redirects=False,
    )
    assert renamed.status_code == 303
    sessions = (await client.get("/v1/sessions")).json()["sessions"]
    assert [s["label"] for s in sessions if s["session_id"] == session] == ["After"]
