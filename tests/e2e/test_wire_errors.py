"""Requests Hypercorn refuses before the app runs, seen from a raw socket.

The real server (serve_api) listens on a free port; each test writes bytes no HTTP
client would send and reads what comes back until the server closes.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import struct
from collections.abc import AsyncIterator
from importlib.metadata import version
from typing import Any

import pytest
from quart import Quart
from structlog.testing import capture_logs

from app.api import wire_errors
from app.api.server import serve_api

READ_SECONDS = 3


@pytest.fixture
async def port() -> AsyncIterator[int]:
    app = Quart(__name__)

    @app.get("/")
    async def index() -> dict[str, str]:
        return {"hello": "world"}

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        number = int(probe.getsockname()[1])
    stop = asyncio.Event()
    server = asyncio.create_task(serve_api(app, host="127.0.0.1", port=number, stop=stop))
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", number)
        except OSError:
            await asyncio.sleep(0.02)
        else:
            writer.close()
            break
    yield number
    stop.set()
    await server


async def exchange(port: int, data: bytes) -> bytes:
    """Send `data`, then read one answer: to the end of its Content-Length, or else
    until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        async with asyncio.timeout(READ_SECONDS):
            start = await reader.readexactly(5)
            if start != b"HTTP/":  # HTTP/2 frames: read them all
                return start + await reader.read()
            head = start + await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length: *([0-9]+)", head)
            assert length is not None, head
            return head + await reader.readexactly(int(length[1]))
    finally:
        writer.close()


def parse(answer: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, json.loads(body)


def test_the_patch_is_written_for_the_installed_hypercorn() -> None:
    # Upgrading Hypercorn fails here first: re-read the _send_error_response methods
    # wire_errors replaces, adapt them, then move PINNED_HYPERCORN.
    assert version("hypercorn") == wire_errors.PINNED_HYPERCORN
    assert wire_errors.compatible()


async def test_a_malformed_request_line_is_a_bad_request_problem(port: int) -> None:
    with capture_logs() as logs:
        status, headers, problem = parse(await exchange(port, b"GARBAGE\r\n\r\n"))
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert problem == {
        "type": "https://assistente.dev/problems/bad-request",
        "title": "Bad Request",
        "status": 400,
        "detail": "The request is not valid HTTP/1.1: its request line, a header or its "
        "framing could not be parsed.",
        "traceId": headers["x-trace-id"],
    }
    # The trace id leads to the log line; the request's bytes are not in it.
    [line] = [entry for entry in logs if entry["event"] == "api.wire_error"]
    assert line == {
        "event": "api.wire_error",
        "status": 400,
        "trace_id": problem["traceId"],
        "log_level": "info",
    }


async def test_a_malformed_header_is_a_bad_request_problem(port: int) -> None:
    answer = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n")
    status, _, problem = parse(answer)
    assert (status, problem["status"], problem["title"]) == (400, 400, "Bad Request")


async def test_a_header_block_over_the_limit_is_a_431_problem(port: int) -> None:
    # 20 000 bytes of headers and no end yet: past Hypercorn's 16 KiB, it stops reading.
    answer = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000)
    status, headers, problem = parse(answer)
    assert (status, headers["content-type"]) == (431, "application/problem+json")
    assert problem["type"] == "https://assistente.dev/problems/request-header-fields-too-large"
    assert problem["detail"] == "The request line and headers together are longer than 16384 bytes."
    assert len(problem["traceId"]) == 32


async def test_an_unsupported_transfer_encoding_is_a_501_problem(port: int) -> None:
    answer = await exchange(port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
    status, _, problem = parse(answer)
    assert (status, problem["title"]) == (501, "Not Implemented")


async def test_a_well_formed_request_still_reaches_the_app(port: int) -> None:
    answer = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status, headers, body = parse(answer)
    assert (status, headers["content-type"], body) == (200, "application/json", {"hello": "world"})


async def test_an_invalid_websocket_handshake_is_a_bad_request_problem(port: int) -> None:
    # Upgrade: websocket without Sec-WebSocket-Key: Hypercorn refuses it itself.
    handshake = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    status, headers, problem = parse(await exchange(port, handshake))
    assert (status, headers["content-type"]) == (400, "application/problem+json")
    assert problem["detail"] == (
        "The WebSocket handshake is not valid (and the API serves no WebSockets)."
    )
    assert problem["traceId"] == headers["x-trace-id"]


def frame_types(data: bytes) -> list[int]:
    types = []
    while len(data) >= 9:
        length = int.from_bytes(data[:3], "big")
        types.append(data[3])
        data = data[9 + length :]
    return types


SETTINGS, GOAWAY = 0x4, 0x7


async def test_h2c_junk_gets_http2_frames_and_a_close_which_no_body_can_shape(port: int) -> None:
    # The HTTP/2 preface, then a DATA frame on stream 0, which HTTP/2 forbids. The
    # answer is framing (SETTINGS, GOAWAY), not an HTTP response: see docs/errors.md.
    data_on_stream_0 = struct.pack(">I", 1)[1:] + b"\x00\x00" + b"\x00\x00\x00\x00" + b"x"
    answer = await exchange(port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + data_on_stream_0)
    assert not answer.startswith(b"HTTP/")
    assert frame_types(answer) == [SETTINGS, GOAWAY]
