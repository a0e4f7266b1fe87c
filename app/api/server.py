"""Serve the API with Hypercorn until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart


async def serve_api(app: Quart, *, host: str, port: int, stop: asyncio.Event | None = None) -> None:
    """Run until a signal (or `stop`) asks to end; in-flight requests finish first."""
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    # Through our logging setup (JSON file, redaction) rather than a stream of its own.
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 10
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve(app, config, shutdown_trigger=stop.wait)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
