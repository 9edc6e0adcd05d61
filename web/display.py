"""The user's display choices (the mind map's 2D or 3D view), remembered on the server.

Kept apart from the privacy settings (``/v1/settings``) so the map island can save the
toggle with one small ``PUT`` and the page renders the chosen view on the next visit,
on any device the user signs in from.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
import psycopg
from litestar import Controller, get, put

from mindhit.accounts import User

__all__ = ["DisplayApi", "DisplaySettings", "get_display", "put_display"]

Conn = psycopg.AsyncConnection[Any]


class DisplaySettings(msgspec.Struct, frozen=True, kw_only=True):
    """How the dashboard shows things to this user (``PUT /v1/settings/display`` body)."""

    map_view: Literal["2d", "3d"] = "2d"


async def get_display(conn: Conn, user_id: str) -> DisplaySettings:
    """The user's display settings (defaults when they never chose)."""
    cur = await conn.execute("SELECT map_view FROM user_settings WHERE user_id = %s", (user_id,))
    row = await cur.fetchone()
    return DisplaySettings() if row is None else DisplaySettings(map_view=row[0])


async def put_display(conn: Conn, user_id: str, display: DisplaySettings) -> None:
    """Store the user's display settings (creates their settings row when missing)."""
    await conn.execute(
        "INSERT INTO user_settings (user_id, map_view) VALUES (%s, %s)"
        " ON CONFLICT (user_id) DO UPDATE SET map_view = EXCLUDED.map_view",
        (user_id, display.map_view),
    )


class DisplayApi(Controller):
    """``/v1/settings/display``: the mind map's remembered view."""

    path = "/v1/settings/display"
    tags = ["dashboard"]

    @get("/", summary="The user's display settings (mind map 2D or 3D)")
    async def show(self, user: User, conn: Conn) -> DisplaySettings:
        return await get_display(conn, user.user_id)

    @put("/", summary="Remember the mind map's view (2d or 3d)")
    async def save(self, user: User, conn: Conn, data: DisplaySettings) -> DisplaySettings:
        await put_display(conn, user.user_id, data)
        return data
