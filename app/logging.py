"""Structured logs: JSON lines in `logs/<process>.log`, rotated; readable console in Development.

Redaction is a processor in the chain every record goes through, ours and the
libraries' alike: keys that carry customer data or credentials are replaced,
and credentials inside any string (URL passwords, bearer tokens, API keys) are
masked. Nothing upstream has to remember to be careful.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[REDACTED]"

# Keys whose values are customer data (payloads, prompts) or credentials.
SENSITIVE_KEYS = frozenset(
    {
        "payload",
        "prompt",
        "prompts",
        "context",
        "messages",
        "content",
        "input",
        "body",
        "api_key",
        "apikey",
        "authorization",
        "password",
        "passwd",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "cookie",
        "set_cookie",
        "database_url",
        "amqp_url",
        "dsn",
        "conninfo",
    }
)

_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # user:password@ inside URLs and DSNs
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),
    # key=value DSN style passwords
    (re.compile(r"(?i)\b(password|passwd|pwd)\s*=\s*('[^']*'|\S+)"), r"\1=***"),
    # HTTP authorisation headers
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 ***"),
    # Our API keys and common provider keys
    (re.compile(r"\batk_[A-Za-z0-9_-]{16,}"), "atk_***"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), "sk-***"),
)


def redact_text(text: str) -> str:
    """Mask credentials that appear inside free text."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if key.lower() in SENSITIVE_KEYS:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_redact_value("", item) for item in value]
    return value


def redact_event(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: redact every key and string in the record."""
    for key in list(event_dict):
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


# The task whose attempt this coroutine runs: (task id, tenant id, trace id). The worker
# sets it once per attempt; ids become text only when a line is actually logged.
task_log_context: ContextVar[tuple[uuid.UUID, uuid.UUID, str | None] | None] = ContextVar(
    "task_log_context", default=None
)


def add_task_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the running task's ids on every line logged for it."""
    current = task_log_context.get()
    if current is not None:
        task_id, tenant_id, trace_id = current
        event_dict.setdefault("task_id", str(task_id))
        event_dict.setdefault("tenant_id", str(tenant_id))
        event_dict.setdefault("trace_id", trace_id)
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        add_task_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact_event,
    ]


def configure_logging(
    process: str, *, log_dir: Path, level: str = "INFO", console: bool = False
) -> Path:
    """Send every log record of this process to `<log_dir>/<process>.log` as JSON.

    Returns the log file's path. Safe to call again (handlers are replaced).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{process}.log"
    shared = _shared_processors()

    file_handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=20 * 1024 * 1024, backupCount=5, encoding="utf-8"
    )
    file_handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    handlers: list[logging.Handler] = [file_handler]
    if console:
        console_handler = logging.StreamHandler(sys.stderr)
        console_handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=shared,
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
                ],
            )
        )
        handlers.append(console_handler)

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    # Per-request access lines come from our own middleware, with trace ids.
    logging.getLogger("hypercorn.access").setLevel(logging.WARNING)
    # The embedded Postgres and pika narrate every step they take.
    # httpx logs every URL at INFO, query string (maybe a key) included.
    for chatty in ("pgserver", "pika", "httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(process=process)
    return path
