"""Serve the API with Hypercorn until `stop` is set (in-flight requests finish first)."""

from __future__ import annotations

import asyncio
import gc
import logging

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart

from app.api import wire_errors
from app.api.streams import current_hub


async def serve_api(
    app: Quart, *, host: str, port: int, stop: asyncio.Event, backlog: int = 1024
) -> None:
    """Serve `app` on host:port until `stop` is set; `backlog` is the listen queue
    (API_BACKLOG; the kernel caps it at net.core.somaxconn)."""
    # Requests Hypercorn refuses before the app runs are answered as problems too.
    wire_errors.install()
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.backlog = backlog
    config.accesslog = None
    # Through our logging setup (JSON file, redaction) rather than a stream of its own.
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 10

    async def stopping() -> None:
        await stop.wait()
        # Streams end and waiting requests answer now (a Sync POST with its 202 and
        # Location), instead of being cut at the graceful timeout.
        if (hub := current_hub()) is not None:
            hub.begin_closing()

    await serve(app, config, shutdown_trigger=stopping)


def freeze_startup_objects() -> None:
    """Keep what exists now out of the garbage collector's passes, for a process that
    serves the API until it exits.

    The modules, the app, its routes and its models live as long as the process, yet
    every full collection walks them all again; while batch requests allocate, those
    walks cost up to a fifth of a batch request's CPU. Called once, after the app is
    built.
    """
    gc.collect()  # what is already garbage goes now, not never
    gc.freeze()
