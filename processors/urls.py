"""URL normalization and hashing: one identity per page, however it was linked.

The same article reached from a newsletter (``?utm_source=…``), a search result
(``#section``) or a differently-cased host must count as one URL, so dwell adds up
and the AI enriches it once. :func:`normalize_url` is pure and idempotent
(``normalize(normalize(u)) == normalize(u)``); :func:`url_hash` names the result.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

__all__ = [
    "TRACKING_PARAMS",
    "domain_of",
    "is_tracking_param",
    "normalize_url",
    "page_of",
    "url_hash",
]

TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "rb_clickid",
        "s_cid",
        "ref_src",
        "spm",
    }
)
"""Query parameters that identify a click or campaign, never the page."""

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}
_SAFE_PATH = "/:@!$&'()*+,;=-._~"


def is_tracking_param(name: str) -> bool:
    """Whether a query parameter only tracks the click (``utm_*``, ``fbclid``, ``gclid``…)."""
    lowered = name.lower()
    return lowered.startswith("utm_") or lowered in TRACKING_PARAMS


def _normalize_path(path: str) -> str:
    # Decode then re-encode so %7E and ~ (or %2f-less variants) compare equal;
    # "%2F" stays encoded because decoding it would change the path's meaning.
    parts = path.split("%2F") if "%2F" in path else path.split("%2f")
    return "%2F".join(quote(unquote(part), safe=_SAFE_PATH) for part in parts) or "/"


@lru_cache(maxsize=65_536)
def normalize_url(url: str) -> str:
    """Return the canonical form of ``url`` (memoized: browsing revisits the same URLs).

    Lower-cases the scheme and host, drops default ports, user info, the fragment
    and tracking parameters, sorts the remaining query parameters (keeping repeated
    keys in their order), and gives an empty path as ``/``. Non-hierarchical URLs
    (``about:blank``, ``chrome://…`` without a host) are returned stripped of their
    fragment only.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text.split("#", 1)[0]
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    pairs = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not is_tracking_param(key)
    ]
    pairs.sort(key=lambda pair: pair[0])  # stable: repeated keys keep their order
    query = urlencode(pairs, quote_via=quote, safe="/:@!$'()*+,;-._~")
    return urlunsplit((scheme, netloc, _normalize_path(parts.path), query, ""))


@lru_cache(maxsize=65_536)
def url_hash(normalized_url: str) -> str:
    """Return the hex SHA-256 of an already normalized URL (the URL's identity)."""
    return hashlib.sha256(normalized_url.encode()).hexdigest()


@lru_cache(maxsize=65_536)
def domain_of(url: str) -> str:
    """Return the host of ``url`` without a leading ``www.`` (empty for host-less URLs)."""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


@lru_cache(maxsize=65_536)
def page_of(url: str) -> tuple[str, str, str]:
    """``url``'s page: its :func:`normalize_url`, that one's :func:`url_hash` and
    :func:`domain_of` (one cached look-up for the three: the fold names a page per visit)."""
    normalized = normalize_url(url)
    return normalized, url_hash(normalized), domain_of(normalized)
