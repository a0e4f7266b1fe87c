"""Problem details for the errors Hypercorn answers before the app runs.

A request Hypercorn cannot parse as HTTP/1.1 (a malformed request line or header,
headers past `h11_max_incomplete_size`, an unsupported Transfer-Encoding) never
reaches the app: Hypercorn answers 400, 431 or 501 itself, with an empty body, and
offers no setting or hook to shape it. This module replaces the one method that
writes that answer (`H11Protocol._send_error_response`) with one that writes an
RFC 9457 problem, with a traceId that is also logged.

It is a patch of a private method, so it is pinned: `install` patches only the
Hypercorn version it was written against (and whose method it has checked), and
otherwise logs a warning and leaves Hypercorn's empty answers alone. The tests
fail on another version, so an upgrade is a decision, not a surprise.
What no patch here can shape is in docs/errors.md.
"""

from __future__ import annotations

import inspect
import json
import secrets
from http import HTTPStatus
from importlib.metadata import version

import h11
import structlog
from hypercorn.protocol.h11 import H11Protocol

from app.api.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

PINNED_HYPERCORN = "0.18.0"

log = structlog.get_logger("app.api.wire")

_DETAIL = {
    400: "The request is not valid HTTP/1.1: its request line, a header or its framing "
    "could not be parsed.",
    431: "The request line and headers together are longer than {limit} bytes.",
    501: "The request's Transfer-Encoding is not supported (only chunked is).",
}


def problem_body(status: int, *, header_limit: int, trace_id: str) -> bytes:
    """The problem document for a wire-level error of `status`."""
    phrase = HTTPStatus(status).phrase
    detail = _DETAIL.get(status, "The request could not be read as HTTP/1.1.")
    body = {
        "type": PROBLEM_BASE + phrase.lower().replace(" ", "-"),
        "title": phrase,
        "status": status,
        "detail": detail.format(limit=header_limit),
        "traceId": trace_id,
    }
    return json.dumps(body).encode()


async def _send_problem_response(self: H11Protocol, status_code: int) -> None:
    # Same events as Hypercorn's own method, with a body: the connection still closes.
    trace_id = secrets.token_hex(16)
    body = problem_body(
        status_code, header_limit=self.config.h11_max_incomplete_size, trace_id=trace_id
    )
    log.info("api.wire_error", status=status_code, trace_id=trace_id)
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        (b"x-trace-id", trace_id.encode()),
        *self.config.response_headers("h11"),
    ]
    await self._send_h11_event(h11.Response(status_code=status_code, headers=headers))
    await self._send_h11_event(h11.Data(data=body))
    await self._send_h11_event(h11.EndOfMessage())


# The original's signature in PINNED_HYPERCORN: a change there is a change of contract.
_ORIGINAL_SIGNATURE = "(self, status_code: 'int') -> 'None'"


def installed() -> bool:
    """Whether Hypercorn's wire errors are problems in this process."""
    return H11Protocol._send_error_response is _send_problem_response


def compatible() -> bool:
    """Whether the installed Hypercorn is the one this patch was written against."""
    original = getattr(H11Protocol, "_send_error_response", None)
    signature = str(inspect.signature(original)) if callable(original) else None
    return version("hypercorn") == PINNED_HYPERCORN and signature == _ORIGINAL_SIGNATURE


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
    H11Protocol._send_error_response = _send_problem_response  # type: ignore[method-assign]
    return True
