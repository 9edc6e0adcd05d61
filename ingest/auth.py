"""Device-token authentication of a request: 401 when missing or unknown, 403 when revoked."""

from __future__ import annotations

from ingest.errors import ApiError
from ingest.state import GatewayState
from ingest.tokens import bearer_token
from mindhit.accounts import TokenInfo

__all__ = ["authenticate"]


async def authenticate(header: str | None, gateway: GatewayState) -> TokenInfo:
    """The token's owner; raises 401 (missing/unknown) or 403 (revoked)."""
    secret = bearer_token(header)
    if secret is None:
        raise ApiError(
            401,
            "missing device token (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    info = await gateway.tokens.resolve(secret)
    if info is None:
        raise ApiError(401, "unknown device token", headers={"WWW-Authenticate": "Bearer"})
    if info.revoked:
        raise ApiError(403, "this device token was revoked")
    return info
