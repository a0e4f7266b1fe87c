"""Serve the API with Hypercorn until `stop` is set (in-flight requests finish first)."""

from __future__ import annotations

import asyncio
import logging

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart


async def serve_api(app: Quart, *, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve `app` on host:port until `stop` is set."""
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    # Through our logging setup (JSON file, redaction) rather than a stream of its own.
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 10
    await serve(app, config, shutdown_trigger=stop.wait)
