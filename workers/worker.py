"""The worker process: run tasks and the maintenance loop until asked to stop.

On stop, claiming ends, running handlers get the grace period to finish, and
what is still running is released so another worker takes it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import sys

import structlog

from app.application.handlers import HandlerRegistry
from app.bootstrap import WorkerProcess

log = structlog.get_logger("app.worker")

PARENT_POLL_SECONDS = 1.0


def load_registry(spec: str) -> HandlerRegistry:
    """`module:attribute` → the HandlerRegistry it names (the user's own handlers).

    The current directory comes first on sys.path, as with `python -m` and hypercorn,
    so a package in the folder the worker starts from is found without PYTHONPATH.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--app must look like 'package.module:registry', got {spec!r}")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    registry = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(registry, HandlerRegistry):
        raise ValueError(f"{spec} is not a HandlerRegistry")
    return registry


async def run_worker(
    process: WorkerProcess, stop: asyncio.Event, *, parent_pid: int | None = None
) -> None:
    """Run worker and maintenance until `stop` is set, or, with `parent_pid`, until
    that process (the `assistente dev` that started this one) is gone."""
    watch = asyncio.create_task(_stop_when_orphaned(parent_pid, stop)) if parent_pid else None
    try:
        await process.run(stop)
    finally:
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch


async def _stop_when_orphaned(parent_pid: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        if os.getppid() != parent_pid:
            log.warning("parent_gone", parent_pid=parent_pid)
            stop.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=PARENT_POLL_SECONDS)
