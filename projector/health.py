"""The projector's small HTTP server: ``/healthz``, ``/readyz`` and ``/metrics``.

Plain asyncio (no framework): three GET routes do not justify one. It binds to
``Settings.projector_host`` (loopback by default).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["serve_health"]

Ready = Callable[[], Awaitable[tuple[bool, str]]]


def _response(status: str, body: bytes, content_type: str = "text/plain; charset=utf-8") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def _route(path: str, ready: Ready) -> bytes:
    if path == "/healthz":
        return _response("200 OK", b"ok\n")
    if path == "/readyz":
        ok, detail = await ready()
        return _response("200 OK" if ok else "503 Service Unavailable", detail.encode() + b"\n")
    if path == "/metrics":
        return _response("200 OK", generate_latest(), CONTENT_TYPE_LATEST)
    return _response("404 Not Found", b"not found\n")


async def serve_health(host: str, port: int, ready: Ready) -> asyncio.Server:
    """Start the server; the caller closes it."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            method, _, rest = request.decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            if method != "GET":
                writer.write(_response("405 Method Not Allowed", b"GET only\n"))
            else:
                writer.write(await _route(path, ready))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
