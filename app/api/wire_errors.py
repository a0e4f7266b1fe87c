"""Problem details for the errors Hypercorn answers before the app runs.

A request Hypercorn cannot parse as HTTP/1.1 (a malformed request line or header,
headers past `h11_max_incomplete_size`, an unsupported Transfer-Encoding) never
reaches the app: Hypercorn answers 400, 431 or 501 itself, with an empty body, and
offers no setting or hook to shape it; so does an invalid WebSocket handshake
(400). This module replaces the two methods that write those answers
(`H11Protocol._send_error_response`, `WSStream._send_error_response`) with ones
that write an RFC 9457 problem, with a traceId that is also logged.

They are private methods, so the patch is pinned: `install` patches only the
Hypercorn version it was written against (whose methods it checks), and otherwise
logs a warning and leaves Hypercorn's empty answers alone. The tests fail on
another version, so an upgrade is a decision, not a surprise. What no patch here
can shape is in docs/errors.md.
"""

from __future__ import annotations

import inspect
import json
import secrets
from http import HTTPStatus
from importlib.metadata import version
from time import time

import h11
import structlog
from hypercorn.protocol.events import Body, EndBody, Response
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.ws_stream import WSStream

from app.api.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

PINNED_HYPERCORN = "0.18.0"
# The patched methods' signature in PINNED_HYPERCORN: a change there is a change of contract.
_ORIGINAL_SIGNATURE = "(self, status_code: 'int') -> 'None'"

log = structlog.get_logger("app.api.wire")

_HTTP_DETAIL = {
    400: "The request is not valid HTTP/1.1: its request line, a header or its framing "
    "could not be parsed.",
    431: "The request line and headers together are longer than {limit} bytes.",
    501: "The request's Transfer-Encoding is not supported (only chunked is).",
}
_WEBSOCKET_DETAIL = {
    400: "The WebSocket handshake is not valid (and the API serves no WebSockets).",
}


def problem_body(status: int, detail: str, trace_id: str) -> bytes:
    """The problem document for a wire-level error."""
    phrase = HTTPStatus(status).phrase
    body = {
        "type": PROBLEM_BASE + phrase.lower().replace(" ", "-"),
        "title": phrase,
        "status": status,
        "detail": detail,
        "traceId": trace_id,
    }
    return json.dumps(body).encode()


def _problem(status: int, detail: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """A logged problem's body and headers; the connection closes after it, as before."""
    trace_id = secrets.token_hex(16)
    body = problem_body(status, detail, trace_id)
    log.info("api.wire_error", status=status, trace_id=trace_id)
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        (b"x-trace-id", trace_id.encode()),
    ]
    return body, headers


async def _h11_problem_response(self: H11Protocol, status_code: int) -> None:
    # Hypercorn's events, with a body: h11 cannot parse the request (400, 431, 501).
    limit = self.config.h11_max_incomplete_size
    detail = _HTTP_DETAIL.get(status_code, HTTPStatus(status_code).description)
    body, headers = _problem(status_code, detail.format(limit=limit))
    headers += self.config.response_headers("h11")
    await self._send_h11_event(h11.Response(status_code=status_code, headers=headers))
    await self._send_h11_event(h11.Data(data=body))
    await self._send_h11_event(h11.EndOfMessage())


async def _websocket_problem_response(self: WSStream, status_code: int) -> None:
    # Hypercorn's events, with a body: a handshake it refuses before the app runs.
    detail = _WEBSOCKET_DETAIL.get(status_code, HTTPStatus(status_code).description)
    body, headers = _problem(status_code, detail)
    await self.send(Response(stream_id=self.stream_id, status_code=status_code, headers=headers))
    await self.send(Body(stream_id=self.stream_id, data=body))
    await self.send(EndBody(stream_id=self.stream_id))
    await self.config.log.access(
        self.scope, {"status": status_code, "headers": []}, time() - self.start_time
    )


_PATCHES = ((H11Protocol, _h11_problem_response), (WSStream, _websocket_problem_response))
# Hypercorn's own methods, as imported (before any install replaced them).
_ORIGINALS = tuple(getattr(owner, "_send_error_response", None) for owner, _ in _PATCHES)


def installed() -> bool:
    """Whether Hypercorn's own error answers are problems in this process."""
    return all(owner._send_error_response is patch for owner, patch in _PATCHES)


def compatible() -> bool:
    """Whether the installed Hypercorn is the one this patch was written against."""
    for original in _ORIGINALS:
        if not callable(original) or str(inspect.signature(original)) != _ORIGINAL_SIGNATURE:
            return False
    return version("hypercorn") == PINNED_HYPERCORN


def install() -> bool:
    """Make Hypercorn's own error answers problems; True when done (idempotent)."""
    if installed():
        return True
    if not compatible():
        log.warning(
            "api.wire_errors_not_installed",
            hypercorn=version("hypercorn"),
            pinned=PINNED_HYPERCORN,
            reason="Hypercorn differs from the version this patch was written for; "
            "its own errors keep their empty bodies",
        )
        return False
    for owner, patch in _PATCHES:
        owner._send_error_response = patch  # type: ignore[method-assign]
    return True
