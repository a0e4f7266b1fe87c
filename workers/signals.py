"""Signal handling shared by every long-running process.

The first SIGINT/SIGTERM asks for a graceful stop (the `stop` event); a second
one exits at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("app.process")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop)`; signals set `stop`, and a second signal ends the process."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            log.warning("exit_now", signal=name)
            os._exit(128 + signum)
        log.info("stopping", signal=name)
        stop.set()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await main(stop)
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
