"""Email addresses as accounts know them: exactly one address, in one canonical form.

Why it exists: an address is both an account's identity (one account per address,
whatever its spelling) and where MindHit sends mail. A sign-up field that lets
``a@x.test,b@y.test`` through becomes a ``To:`` header with two recipients, and two
spellings of one address (``Ann@Example.com``, ``ａｎｎ@example.com``) become two
accounts, one of which may match the operator's admin list.

:func:`normalize_email` is pure: it accepts exactly one bare address (no display name,
no list, no comments, no IP literal) and returns it NFKC-normalised, lower-cased, with
the domain in its IDNA ASCII form (``xn--…``), or raises :class:`EmailError` saying why.
"""

from __future__ import annotations

import re
import unicodedata

import idna

__all__ = ["MAX_EMAIL_LENGTH", "EmailError", "normalize_email"]

MAX_EMAIL_LENGTH = 254
"""Longest address SMTP can carry in a path (RFC 5321 §4.5.3.1.3)."""

_MAX_LOCAL = 64
_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class EmailError(ValueError):
    """The text is not exactly one usable email address; the message says why."""


def _local_char_ok(char: str) -> bool:
    if char.isascii():
        return bool(_ATEXT.fullmatch(char))
    return unicodedata.category(char)[0] in "LMN"


def _local_part(local: str) -> str:
    if not local:
        raise EmailError("The part before @ is empty.")
    if len(local) > _MAX_LOCAL:
        raise EmailError("The part before @ is longer than 64 characters.")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise EmailError("The part before @ cannot start or end with a dot or hold two dots.")
    bad = sorted({c for c in local if not _local_char_ok(c)})
    if bad:
        raise EmailError(f"The part before @ cannot contain {''.join(bad)!r}.")
    return local.lower()


def _domain(domain: str) -> str:
    domain = domain.lower().removesuffix(".")
    if not domain:
        raise EmailError("The domain after @ is empty.")
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise EmailError(f"The domain {domain!r} is not a valid domain name.") from exc
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise EmailError(f"The domain {domain!r} is not a valid domain name.")
    if labels[-1].isdigit():
        raise EmailError("Use a domain name, not an IP address.")
    return ascii_domain


def normalize_email(raw: str) -> str:
    """The canonical form of the one address in ``raw``.

    Steps: trim; NFKC-normalise (full-width and compatibility forms become plain ones);
    refuse whitespace, control characters, lists and display names; split at the one
    ``@``; check and lower-case the local part; lower-case the domain and encode it
    with IDNA (UTS 46); check the lengths.

    Raises:
        EmailError: the text is not exactly one usable address.
    """
    text = unicodedata.normalize("NFKC", raw.strip())
    if not text:
        raise EmailError("Enter an email address.")
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in text):
        raise EmailError("An email address cannot contain spaces or control characters.")
    if any(c in ',;<>()[]\\":' for c in text):
        raise EmailError("Enter exactly one email address, without a name or a list.")
    if text.count("@") != 1:
        raise EmailError("An email address has exactly one @.")
    local, _, domain = text.partition("@")
    address = f"{_local_part(local)}@{_domain(domain)}"
    if len(address) > MAX_EMAIL_LENGTH:
        raise EmailError(f"An email address has at most {MAX_EMAIL_LENGTH} characters.")
    return address
