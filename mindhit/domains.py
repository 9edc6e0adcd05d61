"""Block-list entries: what a person types, turned into the host names browsers report.

One normalizer for every place a block list is read — the dashboard's settings (web), the
gateway's global and per-user lists (ingest) — so an entry blocks the same pages
everywhere. Browsers report internationalized hosts in their ASCII form
(``https://xn--bcher-kva.de/``), so ``bücher.de`` is stored as ``xn--bcher-kva.de``
(UTS #46, non-transitional, as Chromium maps them): typed as Unicode, it used to match
nothing and the pages were recorded.
"""

from __future__ import annotations

import re

import idna

__all__ = ["normalize_domain"]

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


def normalize_domain(entry: str) -> str | None:
    """The bare ASCII domain an entry names, or ``None`` when it names none.

    Lower-cased; a scheme, path, query, port, leading ``*.`` or dots and trailing dots
    are stripped (``https://Mail.Example.com:8443/x`` → ``mail.example.com``); Unicode
    labels become their ``xn--`` form.

    >>> normalize_domain("*.Bücher.de/katalog")
    'xn--bcher-kva.de'
    >>> normalize_domain("not a domain!") is None
    True
    """
    text = _SCHEME.sub("", entry.strip().lower())
    text = re.split(r"[/?#]", text, maxsplit=1)[0]
    text = re.sub(r":\d*$", "", text)
    text = text.removeprefix("*.").strip(".")
    if not text:
        return None
    if not text.isascii():
        try:
            text = idna.encode(text, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            return None
    return text if _DOMAIN.match(text) else None
