"""The internal metrics listener of the gateway and the dashboard.

Their public ports (behind the ingress) do not serve ``/metrics``: Prometheus text
tells how busy the service is and what it did (how many page texts were already
known, how many sign-ins failed), which is for the operator, not for anyone who can
reach the public host. Each serves its registry on a port of its own
(``MINDHIT_GATEWAY_METRICS_PORT``, ``MINDHIT_WEB_METRICS_PORT``) that only the cluster
(Prometheus, via the pod annotations) reaches. Plain asyncio: one GET route.
"""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from mindhit.logs import get_logger

__all__ = ["serve_metrics"]

log = get_logger(__name__)


def _response(status: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def _answer(request: bytes, registry: CollectorRegistry) -> bytes:
    method, _, rest = request.decode("latin-1").partition(" ")
    path = rest.split(" ", 1)[0].split("?", 1)[0]
    text = "text/plain; charset=utf-8"
    if method != "GET":
        return _response("405 Method Not Allowed", b"GET only\n", text)
    if path != "/metrics":
        return _response("404 Not Found", b"not found\n", text)
    return _response("200 OK", generate_latest(registry), CONTENT_TYPE_LATEST)


async def serve_metrics(
    host: str, port: int, registry: CollectorRegistry, *, component: str
) -> asyncio.Server | None:
    """Serve ``GET /metrics`` of ``registry`` on ``host:port``; the caller closes it.

    A port already taken is logged (``metrics_port_unavailable``) and the service runs
    on without its metrics listener (returns None), rather than not serving users.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            writer.write(_answer(request, registry))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        except ConnectionError:
            pass
        finally:
            writer.close()

    try:
        server = await asyncio.start_server(handle, host, port)
    except OSError as exc:
        log.warning("metrics_port_unavailable", component=component, port=port, error=str(exc))
        return None
    log.info("metrics_listening", component=component, host=host, port=port)
    return server
