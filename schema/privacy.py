"""What of a URL may leave the browser: only web pages, and never the secrets a URL carries.

Part of the client contract: the extension applies these rules before anything is
stored (its copy of the lists is generated from here by ``mindhit schema export``), and
the gateway applies them again to every upload (defence in depth), so a page only ever
reaches the log as an ``http:``/``https:`` URL without a fragment, user info or
credential-carrying query or path parameters.

The rules are plain string surgery, written the same way in
``extension/src/lib/urls.ts`` (both run the shared cases in
``tests/fixtures/url_privacy_cases.json``): a URL without secrets comes out unchanged,
byte for byte; only the parts named below are cut.

* Only ``http:`` and ``https:`` URLs are pages (:func:`is_page_url`). Everything else
  (``file:``, ``data:``, ``blob:``, ``chrome:``, ``about:``, ``chrome-extension:``,
  ``view-source:``, …) is never recorded; a switch to such a tab is recorded as a switch
  to :data:`NOT_A_PAGE_URL` (the previous visit ends, nothing about the tab is told), and a
  page on a blocked domain as :data:`BLOCKED_URL`. Downstream, neither is a page.
* :func:`scrub_url` drops the fragment, ``user:password@`` and every query (or ``;``
  path) parameter whose name is a secret (:func:`is_secret_param`): the exact names in
  :data:`SECRET_PARAMS`, names starting with :data:`SECRET_PARAM_PREFIXES` or ending with
  :data:`SECRET_PARAM_SUFFIXES` (case-insensitive), plus names a user adds.
* A tab's title that is just its URL (:func:`is_url_title`: what the browser shows while a
  page loads, secrets included) is no title: it is recorded as ``""``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import unquote

__all__ = [
    "BLOCKED_URL",
    "NOT_A_PAGE_URL",
    "PAGE_SCHEMES",
    "SECRET_PARAMS",
    "SECRET_PARAM_PREFIXES",
    "SECRET_PARAM_SUFFIXES",
    "WEB_PREFIXES",
    "UserSecretParams",
    "is_page_url",
    "is_secret_param",
    "is_url_title",
    "parse_secret_params",
    "scrub_url",
]

PAGE_SCHEMES: Final = ("http", "https")
"""The only schemes whose URLs are pages."""
WEB_PREFIXES: Final = ("https://", "http://")
"""How most page URLs start (the common case of :func:`is_page_url`, before any ``lower()``)."""

NOT_A_PAGE_URL: Final = "about:blank"
"""What a switch to a tab that shows no web page (new tab, ``file:``, …) is recorded as."""

BLOCKED_URL: Final = "about:blocked"
"""What a switch to a page on a blocked domain is recorded as."""

SECRET_PARAMS: Final = frozenset(
    {
        "token",
        "access_token",
        "id_token",
        "refresh_token",
        "code",
        "state",
        "session",
        "sid",
        "auth",
        "authorization",
        "key",
        "api_key",
        "password",
        "pass",
        "pwd",
        "secret",
        "signature",
        "sig",
        "otp",
        "ticket",
        "jwt",
        "credential",
        "credentials",
        "oauth_verifier",
        "samlrequest",
        "samlresponse",
        "relaystate",
        "awsaccesskeyid",
    }
)
"""Query parameter names (lower case) that carry credentials."""

SECRET_PARAM_PREFIXES: Final = ("x-amz-", "x-goog-")
"""Signed-URL parameter families (S3, Google Cloud Storage)."""

SECRET_PARAM_SUFFIXES: Final = (
    "token",
    "password",
    "passwd",
    "secret",
    "signature",
    "apikey",
    "_key",
    "-key",
    "sessionid",
    "session_id",
    "sessid",
)
"""Name endings that mark a credential (``csrf_token``, ``client_secret``, ``jsessionid``…)."""


class UserSecretParams:
    """Extra secret names a user configured: exact names, and prefixes written ``name*``."""

    __slots__ = ("names", "prefixes")

    def __init__(self, entries: Iterable[str] = ()) -> None:
        names: set[str] = set()
        prefixes: set[str] = set()
        for entry in entries:
            text = entry.strip().lower()
            if text.endswith("*") and len(text) > 1:
                prefixes.add(text[:-1])
            elif text and "*" not in text:
                names.add(text)
        self.names = frozenset(names)
        self.prefixes = tuple(sorted(prefixes))


_NO_EXTRA = UserSecretParams()
_USER_INFO = re.compile(r"^[^/?#@]*@")


def parse_secret_params(text: str) -> list[str]:
    """Split a comma/whitespace separated list of extra secret names (``x-my-*`` = prefix)."""
    seen: dict[str, None] = {}
    for part in text.replace(",", " ").split():
        entry = part.strip().lower()
        if entry and entry != "*" and "*" not in entry[:-1]:
            seen[entry] = None
    return list(seen)


def is_page_url(url: str) -> bool:
    """Whether ``url`` is a web page (``http://`` or ``https://``), the only kind recorded."""
    if url.startswith(WEB_PREFIXES):  # the common case, before any lower()
        return True
    colon = url.find(":")
    return colon > 0 and url[:colon].lower() in PAGE_SCHEMES and url[colon + 1 : colon + 3] == "//"


def is_secret_param(name: str, extra: UserSecretParams = _NO_EXTRA) -> bool:
    """Whether a (decoded) parameter name carries a credential."""
    lowered = name.strip().lower()
    return (
        lowered in SECRET_PARAMS
        or lowered.startswith(SECRET_PARAM_PREFIXES)
        or lowered.endswith(SECRET_PARAM_SUFFIXES)
        or lowered in extra.names
        or (bool(extra.prefixes) and lowered.startswith(extra.prefixes))
    )


def _host_of(url: str) -> str:
    rest = url.split("://", 1)[1] if "://" in url else ""
    for stop in "/?#":
        rest = rest.split(stop, 1)[0]
    host = rest.rsplit("@", 1)[-1]
    return host.removeprefix("www.")


def _url_forms(url: str) -> set[str]:
    bare = url.split("://", 1)[1] if "://" in url else url
    bare = _USER_INFO.sub("", bare)
    forms = {url, bare, bare.removesuffix("/"), bare.removeprefix("www.")}
    forms |= {unquote(form) for form in forms}
    return forms


def is_url_title(title: str, url: str) -> bool:
    """Whether ``title`` is only ``url`` spelled out (with or without scheme, decoded or not).

    Browsers show the URL as a tab's title until the page names itself, query and fragment
    included: such a title carries the URL's secrets and says nothing else.
    """
    text = title.strip()
    if not text or len(text) > len(url):
        return False  # no spelling of a URL is longer than the URL itself
    host = _host_of(url)
    if host and "%" not in host and host not in text:
        return False  # every spelling of the URL shows its host: most titles stop here
    return text in _url_forms(url)


def _param_name(pair: str) -> str:
    raw = pair.split("=", 1)[0]
    if "%" not in raw and "+" not in raw:
        return raw
    raw = raw.replace("+", " ")
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return raw


def _keep(params: list[str], extra: UserSecretParams) -> list[str]:
    return [p for p in params if not (p and is_secret_param(_param_name(p), extra))]


def _scrub_path(path: str, extra: UserSecretParams) -> str:
    if ";" not in path:
        return path
    segments = []
    for segment in path.split("/"):
        head, *params = segment.split(";")
        kept = _keep(params, extra)
        segments.append(";".join([head, *kept]) if len(kept) != len(params) else segment)
    return "/".join(segments)


def scrub_url(url: str, extra: UserSecretParams = _NO_EXTRA) -> str:
    """``url`` without its fragment, user info and secret parameters (pages only).

    A URL that is not a page is returned without its fragment only. A query whose
    parameters are all kept is left exactly as it was.
    """
    hash_at = url.find("#")
    text = url if hash_at < 0 else url[:hash_at]
    if not is_page_url(text):
        return text
    start = text.find("//") + 2
    end = len(text)
    for stop in ("/", "?"):
        found = text.find(stop, start)
        if 0 <= found < end:
            end = found
    authority = text[start:end]
    authority = authority[authority.rfind("@") + 1 :]
    rest = text[end:]
    query_at = rest.find("?")
    path, query = (rest, None) if query_at < 0 else (rest[:query_at], rest[query_at + 1 :])
    scrubbed = text[:start] + authority + _scrub_path(path, extra)
    if query is None:
        return scrubbed
    params = query.split("&")
    kept = _keep(params, extra)
    if len(kept) == len(params):
        return f"{scrubbed}?{query}"
    return f"{scrubbed}?{'&'.join(kept)}" if kept else scrubbed
