"""Broker URL options: where the Redis is and which key prefix the app's streams use.

A Faust app selects this transport with ``broker="redis://host:port/db?prefix=mindhit"``.
The query parameters that belong to the transport are removed before the URL is
handed to redis-py, so the rest of the URL (password, db, TLS via ``rediss``)
keeps its usual redis-py meaning:

``prefix``            key prefix of every stream and bookkeeping key (default ``mindhit``),
                      the same as ``Settings.key_prefix`` so Faust reads what the gateway wrote.
``compact_interval``  seconds between changelog compaction passes (default 300; 0 = off).
``block_ms``          longest a fetch blocks waiting for new entries (default 100).
``fetch_count``       most entries read per partition per fetch (default 500).
``lease_ms``          the group's session timeout (default 10000): a member that stops heartbeating
                      leaves the group, and its partition leases expire, this long after.
``wait_replicas``     replicas that must hold the producer's appends before Faust may commit past
                      them (default 0 = none; ``MINDHIT_WAIT_REPLICAS``, see
                      :meth:`processors.transport.producer.Producer.flush`).
``wait_timeout_ms``   how long one ``WAIT`` for them lasts (1–4000, default 100;
                      ``MINDHIT_WAIT_TIMEOUT_MS``).
``cluster``           ``1``: the Redis is a Redis Cluster (what ``redis+cluster://`` means
                      elsewhere in MindHit, :func:`mindhit.redis_client.connect_redis`; Faust
                      picks a transport by the URL's scheme, so the broker URL keeps ``redis://``).
``seeds``             with ``cluster=1``: the cluster's other seed nodes, ``host:port,host:port``
                      (a ``MINDHIT_REDIS_URL`` naming several nodes; Faust's URL parser takes one
                      host, so the rest travel here and are put back into ``redis_url``).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from mindhit.redis_client import plain_url

__all__ = ["TransportOptions", "broker_url", "parse_broker_url"]

_OWN_PARAMS = (
    "prefix",
    "compact_interval",
    "block_ms",
    "fetch_count",
    "lease_ms",
    "wait_replicas",
    "wait_timeout_ms",
    "cluster",
    "seeds",
)


class TransportOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What the transport needs from its broker URL."""

    redis_url: str
    prefix: str = "mindhit"
    compact_interval_s: float = 300.0
    block_ms: int = 100
    fetch_count: int = 500
    lease_ms: int = 10_000
    wait_replicas: int = 0
    wait_timeout_ms: int = 100


def parse_broker_url(url: str) -> TransportOptions:
    """Split a ``redis://…?prefix=…`` broker URL into redis-py's URL and our options.

    Raises:
        ValueError: when an option has an invalid value or the scheme is not redis.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"not a Redis broker URL: {url!r}")
    own: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in _OWN_PARAMS:
            own[name] = value
        else:
            rest.append((name, value))
    netloc = parts.netloc or "127.0.0.1:6379"
    cluster = {"0": False, "1": parts.scheme != "unix"}.get(own.get("cluster", "0"))
    if cluster is None or (own.get("cluster") == "1" and not cluster):
        raise ValueError(f"broker URL option cluster must be 0 or 1 (1 not over unix): {url!r}")
    scheme = f"{parts.scheme}+cluster" if cluster else parts.scheme
    if own.get("seeds"):
        if not cluster:
            raise ValueError(f"broker URL option seeds needs cluster=1: {url!r}")
        netloc = f"{netloc},{own['seeds']}"
    redis_url = urlunsplit((scheme, netloc, parts.path, urlencode(rest), ""))
    try:
        options = TransportOptions(
            redis_url=redis_url,
            prefix=own.get("prefix", "mindhit"),
            compact_interval_s=float(own.get("compact_interval", 300.0)),
            block_ms=int(own.get("block_ms", 100)),
            fetch_count=int(own.get("fetch_count", 500)),
            lease_ms=int(own.get("lease_ms", 10_000)),
            wait_replicas=int(own.get("wait_replicas", 0)),
            wait_timeout_ms=int(own.get("wait_timeout_ms", 100)),
        )
    except ValueError as exc:
        raise ValueError(f"invalid broker URL option in {url!r}: {exc}") from exc
    if not options.prefix or ":" in options.prefix:
        raise ValueError(f"broker URL prefix must be non-empty and contain no ':': {url!r}")
    if (
        options.block_ms < 0
        or options.fetch_count < 1
        or options.compact_interval_s < 0
        or options.lease_ms < 1000
        or options.wait_replicas < 0
        or not 1 <= options.wait_timeout_ms <= 4000  # WAIT n 0 blocks forever; 5 s timeout
    ):
        raise ValueError(f"broker URL options out of range: {url!r}")
    return options


def broker_url(redis_url: str, prefix: str, **options: float | int) -> str:
    """Build the Faust broker URL for ``redis_url`` with our options (inverse of parsing).

    A Redis Cluster URL (``redis+cluster://``) becomes ``redis://…&cluster=1``; its seed
    nodes after the first (``h1:p1,h2:p2``) become ``&seeds=h2:p2``.
    """
    plain, cluster = plain_url(redis_url)
    parts = urlsplit(plain)
    netloc, _, seeds = parts.netloc.partition(",")
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.append(("prefix", prefix))
    if cluster:
        query.append(("cluster", "1"))
        if seeds:
            query.append(("seeds", seeds))
    query.extend((name, str(value)) for name, value in options.items())
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), ""))
