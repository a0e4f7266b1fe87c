"""A WebSocket handshake the app refuses is answered like any request: a problem whose
traceId and instance are set, and the same id in X-Trace-Id."""

from __future__ import annotations

import asyncio
import json

HANDSHAKE = (
    "GET /api/v1/tasks/stream HTTP/1.1\r\n"
    "Host: api\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n"
)


async def test_a_refused_websocket_handshake_is_a_problem_with_a_trace_id(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(HANDSHAKE.encode())
    await writer.drain()
    head, _, body = (await asyncio.wait_for(reader.read(65536), 5)).partition(b"\r\n\r\n")
    writer.close()
    status_line, *header_lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    assert status_line.split()[1] == "404"
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["instance"] == "/api/v1/tasks/stream"
    assert problem["traceId"] and problem["traceId"] == headers["x-trace-id"]
