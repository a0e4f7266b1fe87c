"""The worker process: run tasks and the maintenance loop until asked to stop.

On stop, claiming ends, running handlers get the grace period to finish, and
what is still running is released so another worker takes it at once.
"""

from __future__ import annotations

import asyncio
import importlib

from app.application.handlers import HandlerRegistry
from app.bootstrap import WorkerProcess


def load_registry(spec: str) -> HandlerRegistry:
    """`module:attribute` → the HandlerRegistry it names (the user's own handlers)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--app must look like 'package.module:registry', got {spec!r}")
    registry = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(registry, HandlerRegistry):
        raise ValueError(f"{spec} is not a HandlerRegistry")
    return registry


async def run_worker(process: WorkerProcess, stop: asyncio.Event) -> None:
    """Run worker and maintenance until `stop` is set."""
    await process.run(stop)
