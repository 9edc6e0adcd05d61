"""The client's address behind trusted proxies (``MINDHIT_TRUSTED_PROXIES``).

Why it exists: behind an ingress every request comes from the ingress's address, so a
per-address sign-in limit would put every user in one bucket; but a forwarded header
sent by anybody else is a claim anyone can forge. So forwarded headers are read only
when the connection comes from a configured proxy network, and then from the right:
each trusted hop is skipped and the first address a trusted hop did not add itself
is the client (what a client writes into the header itself stays on the left).

:func:`client_address` is the pure rule; :class:`TrustedProxyMiddleware` applies it
to the ASGI scope so every handler, log line and metric sees the same address.
Uvicorn's own proxy-header handling is turned off (``mindhit web``), so this is the
only place that trusts a forwarded header.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import Literal

from litestar.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "ForwardedHeader",
    "IPNetwork",
    "TrustedProxyMiddleware",
    "client_address",
    "parse_networks",
]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ForwardedHeader = Literal["x-forwarded-for", "forwarded"]
_FOR = re.compile(r'(?:^|;)\s*for\s*=\s*("[^"]*"|[^;,\s]*)', re.IGNORECASE)
_MAX_HOPS = 32


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR strings (``10.0.0.0/8``, ``::1``) as networks.

    Raises:
        ValueError: an entry is not an address or network, naming it.
    """
    networks: list[IPNetwork] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"MINDHIT_TRUSTED_PROXIES: {value!r} is not a CIDR") from exc
    return tuple(networks)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip('"')
    if text.startswith("["):  # [v6] or [v6]:port
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _hops(values: Sequence[str], header: ForwardedHeader) -> list[str]:
    joined = ",".join(values)
    if header == "x-forwarded-for":
        return [hop for hop in (h.strip() for h in joined.split(",")) if hop]
    return [m.group(1) for element in joined.split(",") if (m := _FOR.search(element))]


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: Sequence[IPNetwork]
) -> bool:
    return any(address.version == net.version and address in net for net in nets)


def client_address(
    peer: str,
    header_values: Sequence[str],
    trusted: Sequence[IPNetwork],
    header: ForwardedHeader = "x-forwarded-for",
) -> str:
    """The address of the client that made a request.

    Args:
        peer: the address the connection came from.
        header_values: every value of the forwarded header, in the order received.
        trusted: the proxy networks whose forwarded headers are believed.
        header: which header the proxies write.

    Steps: an untrusted (or unparseable) peer is the client and its headers are
    ignored; else walk the header's hops from the right, skipping trusted proxies;
    the first other hop is the client. A hop that is not an address stops the walk
    (nothing to its left can be believed): the last trusted hop is the answer.
    """
    current = _ip(peer)
    if current is None or not trusted or not _trusted(current, trusted):
        return str(current) if current is not None else peer
    for hop in reversed(_hops(header_values, header)[-_MAX_HOPS:]):
        address = _ip(hop)
        if address is None:
            break
        current = address
        if not _trusted(address, trusted):
            break
    return str(current)


class TrustedProxyMiddleware:
    """ASGI middleware replacing ``scope["client"]`` by :func:`client_address`."""

    def __init__(
        self, app: ASGIApp, *, trusted: Sequence[IPNetwork], header: ForwardedHeader
    ) -> None:
        self.app = app
        self.trusted = tuple(trusted)
        self.header_name: ForwardedHeader = header
        self.header = header.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and self.trusted and client:
            peer, port = client
            values = [v.decode("latin-1") for k, v in scope["headers"] if k == self.header]
            address = client_address(peer, values, self.trusted, self.header_name)
            if address != peer:
                scope = {**scope, "client": (address, port)}  # type: ignore[assignment]
        await self.app(scope, receive, send)
