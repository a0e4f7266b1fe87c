"""The worker process: run tasks until SIGTERM/SIGINT, then shut down gracefully.

The first signal stops claiming and lets running handlers finish within the
grace period, then releases what is left so another worker takes it at once.
A second signal exits immediately.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import signal

import structlog

from app.application.handlers import HandlerRegistry
from app.bootstrap import WorkerProcess

log = structlog.get_logger("app.worker")


def load_registry(spec: str) -> HandlerRegistry:
    """`module:attribute` → the HandlerRegistry it names (the user's own handlers)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--app must look like 'package.module:registry', got {spec!r}")
    registry = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(registry, HandlerRegistry):
        raise ValueError(f"{spec} is not a HandlerRegistry")
    return registry


async def run_worker(process: WorkerProcess, stop: asyncio.Event | None = None) -> None:
    """Run worker and maintenance until `stop` is set or a signal arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning("worker_exit_now", signal=signal.Signals(signum).name)
            os._exit(128 + signum)
        log.info("worker_stopping", signal=signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    await process.services.start()
    try:
        await asyncio.gather(process.worker.run(stop), process.maintenance.run(stop))
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await process.services.stop()
