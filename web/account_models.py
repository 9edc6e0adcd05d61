"""Bodies of the account API (``/v1/account/...``), described in the OpenAPI document."""

from __future__ import annotations

from typing import Annotated

import msgspec

from mindhit.passwords import MAX_PASSWORD_LENGTH

__all__ = ["EmailConfirmation", "MailRequested", "PasswordChange", "SignedOut"]

Password = Annotated[str, msgspec.Meta(max_length=MAX_PASSWORD_LENGTH)]


class PasswordChange(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /v1/account/password``: the current password (empty when none is set yet)
    and the new one (at least 10 characters). Every other browser is signed out and
    every device token revoked."""

    current_password: Password = ""
    new_password: Password


class EmailConfirmation(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /v1/account/email/confirm``: the ``token`` of the link mailed to the address."""

    token: Annotated[str, msgspec.Meta(max_length=100)]


class MailRequested(msgspec.Struct, frozen=True, kw_only=True):
    """Answer to asking for a new confirmation link: whether a mail was handed to SMTP
    (``false`` without ``MINDHIT_SMTP_URL``: in development the link is in the log)."""

    email: str
    mailed: bool


class SignedOut(msgspec.Struct, frozen=True, kw_only=True):
    """Answer to "sign out everywhere": how many browser sign-ins ended and how many
    device tokens were revoked (the gateway refuses them within
    ``MINDHIT_TOKEN_CACHE_SECONDS``)."""

    ended: int
    tokens_revoked: int
