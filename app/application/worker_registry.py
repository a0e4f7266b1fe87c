"""The worker registry: each worker process keeps a row saying it is alive.

A worker registers as it starts, touches its row every heartbeat from a light timer of
its own (beside the claim and finish loops, never in them), and marks itself stopped
when it stops cleanly. The maintenance leader marks dead the workers that went silent
(app/application/maintenance.py) and prunes old rows. Operators read it through
GET /api/v1/workers, `assistente workers` and the view worker_activity.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import structlog

log = structlog.get_logger("app.worker_registry")


@dataclass(frozen=True, slots=True)
class WorkerRegistration:
    """Who a worker is, as it registers."""

    worker_id: str
    host: str
    pid: int
    version: str
    concurrency: int
    heartbeat_seconds: float
    lease_seconds: float


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A registered worker as operators see it."""

    id: str
    host: str
    pid: int
    version: str
    status: str  # running | stopped | dead
    concurrency: int
    started_at: datetime
    last_heartbeat_at: datetime
    stopped_at: datetime | None
    held_tasks: int


class WorkerRegistry(Protocol):
    """Where workers say they are alive (table workers)."""

    async def register(self, registration: WorkerRegistration) -> None:
        """Add or take over the worker's row, running as of now."""
        ...

    async def heartbeat(self, worker_id: str) -> bool:
        """Touch the row (a row marked dead runs again); False if there is no row."""
        ...

    async def stop(self, worker_id: str) -> None:
        """Mark the row stopped (a clean stop)."""
        ...


class WorkerDirectory(Protocol):
    """The registry's read side and the leader's upkeep."""

    async def list(self) -> Sequence[WorkerInfo]:
        """Every registered worker with the count of tasks it holds."""
        ...

    async def mark_dead(self) -> Sequence[str]:
        """Mark dead the running workers silent for greatest(3 heartbeats, a lease);
        their ids."""
        ...

    async def prune(self, retention_seconds: float) -> int:
        """Delete rows stopped or dead longer than `retention_seconds`; how many."""
        ...


async def keep_registered(
    registration: WorkerRegistration, *, registry: WorkerRegistry, stop: asyncio.Event
) -> None:
    """Register, heartbeat every `heartbeat_seconds` until `stop` is set, then mark the
    row stopped. The database may be away: each step is retried at the next beat (the
    leader may mark the worker dead meanwhile; the next heartbeat brings it back)."""
    registered = False
    while not stop.is_set():
        try:
            if not registered or not await registry.heartbeat(registration.worker_id):
                await registry.register(registration)
                if not registered:
                    log.info("worker_registered", worker_id=registration.worker_id)
                registered = True
        except Exception as error:
            log.warning("worker_heartbeat_failed", error_type=type(error).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=registration.heartbeat_seconds)
    if registered:
        try:
            await registry.stop(registration.worker_id)
        except Exception as error:  # the leader marks it dead later instead
            log.warning("worker_stop_not_recorded", error_type=type(error).__name__)
