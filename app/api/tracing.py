"""Trace ids: from an incoming W3C `traceparent` (or `X-Request-Id`), else new.

The id is bound to every log line of the request and returned in `X-Trace-Id`.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_trace_id: ContextVar[str | None] = ContextVar("trace_id", default=None)

TRACE_HEADER = "X-Trace-Id"


def trace_id_from_headers(traceparent: str | None, request_id: str | None) -> str:
    """The caller's trace id when it sent a well-formed one, else a fresh W3C-style id."""
    if traceparent:
        match = _TRACEPARENT.match(traceparent.strip().lower())
        if match and match.group(1) != "0" * 32:
            return match.group(1)
    if request_id and _REQUEST_ID.match(request_id.strip()):
        return request_id.strip()
    return new_trace_id()


def new_trace_id() -> str:
    """A fresh W3C-style trace id, bound as the current one."""
    trace_id = secrets.token_hex(16)
    _trace_id.set(trace_id)
    return trace_id


def set_trace_id(trace_id: str) -> None:
    _trace_id.set(trace_id)


def current_trace_id() -> str | None:
    return _trace_id.get()
