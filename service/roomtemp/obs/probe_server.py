"""A small HTTP endpoint for worker processes (no FastAPI): /healthz, /readyz and /metrics.

`roomtemp alerts` serves it on ALERTS_PORT and `roomtemp mqtt` on MQTT_HEALTH_PORT."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

#: Readiness: (ready, named checks) — e.g. (False, {"database": False}).
Ready = Callable[[], Awaitable[tuple[bool, dict[str, bool]]]]


def _response(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def _answer(method: str, path: str, ready: Ready, registry: CollectorRegistry) -> bytes:
    if method not in ("GET", "HEAD"):
        body = b'{"error":{"code":"method_not_allowed","message":"GET only","details":[]}}'
        return _response("405 Method Not Allowed", body)
    if path == "/healthz":
        return _response("200 OK", b'{"status":"ok"}')
    if path == "/readyz":
        ok, parts = await ready()
        body = json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()
        return _response("200 OK" if ok else "503 Service Unavailable", body)
    if path == "/metrics":
        return _response("200 OK", generate_latest(registry), CONTENT_TYPE_LATEST)
    body = b'{"error":{"code":"not_found","message":"no such path","details":[]}}'
    return _response("404 Not Found", body)


async def serve(host: str, port: int, ready: Ready, registry: CollectorRegistry) -> asyncio.Server:
    """Start answering on host:port (one request per connection)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            parts = line.decode("latin-1").split()
            method = parts[0] if parts else "GET"
            path = parts[1].split("?")[0] if len(parts) >= 2 else "/"
            writer.write(await _answer(method, path, ready, registry))
            await writer.drain()
        except (TimeoutError, ConnectionError) as exc:
            log.debug("probe request dropped: %s", type(exc).__name__)
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
