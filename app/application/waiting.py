"""Requests that wait for a task: how long they may, and how many may at once.

A waiting request holds an HTTP connection and a few kilobytes of this process's
memory, and no database connection: it sleeps until the API's change watcher says its
task has a new status. It is counted here, not among its key's requests in progress
(API_MAX_IN_FLIGHT_PER_KEY), so a few slow tasks cannot stall everything else a key
sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from app.domain.inflight import InFlight

PROCESS = ""  # the holder that counts every wait of the process


@dataclass(frozen=True, slots=True)
class WaitPolicy:
    """API_SYNC_WAIT_SECONDS, API_MAX_WAIT_SECONDS and the caps on waiting requests."""

    # A task whose executionType is Sync, posted without `Prefer: wait`, waits this long.
    sync_default_seconds: int = 10
    # No wait lasts longer, whatever was asked.
    max_seconds: int = 60
    per_key: int = 100
    per_process: int = 1000
    _by_key: InFlight = field(init=False)
    _in_all: InFlight = field(init=False)

    def __post_init__(self) -> None:
        # frozen: set once here, as the generated __init__ would
        object.__setattr__(self, "_by_key", InFlight(self.per_key))
        object.__setattr__(self, "_in_all", InFlight(self.per_process))

    @property
    def waiting(self) -> int:
        """Requests waiting in this process now."""
        return self._in_all.total

    def waiting_for(self, key: str) -> int:
        """Requests of this API key waiting now."""
        return self._by_key[key]

    def try_reserve(self, key: str) -> bool:
        """Count one more waiting request of `key`, unless the key or the process is at
        its cap. Synchronous: requests arriving at once cannot all pass the check."""
        if self._by_key.full(key) or self._in_all.full(PROCESS):
            return False
        self._by_key.try_acquire(key)
        self._in_all.try_acquire(PROCESS)
        return True

    def release(self, key: str) -> None:
        """One waiting request of `key` fewer (once per successful reserve)."""
        self._by_key.release(key)
        self._in_all.release(PROCESS)


class TaskWatch:
    """One waiting request's view of its task: set when the watcher sees the task get
    a new status, with that status."""

    __slots__ = ("changed", "status")

    def __init__(self) -> None:
        self.changed = asyncio.Event()
        self.status: str | None = None

    def seen(self, status: str) -> None:
        """The request read the task in `status`: a later report of the same status
        wakes nothing. A status the watcher reported first is kept (it is as new)."""
        if self.status is None:
            self.status = status


class TaskWatches:
    """The waiting requests of one process by task id. The change watcher calls `wake`
    for each task with new events: a dictionary lookup per task, whatever the number of
    requests waiting for other tasks."""

    def __init__(self) -> None:
        self._by_task: dict[uuid.UUID, set[TaskWatch]] = {}

    def __len__(self) -> int:
        return sum(len(watches) for watches in self._by_task.values())

    def wake(self, task_id: uuid.UUID, status: str) -> None:
        """The task's newest event left it in `status`: wake its requests if that is a
        new status (a running task's progress events leave them asleep)."""
        for watch in self._by_task.get(task_id, ()):
            if watch.status != status:
                watch.status = status
                watch.changed.set()

    def wake_all(self) -> None:
        """Shutting down: every waiting request answers now."""
        for watches in self._by_task.values():
            for watch in watches:
                watch.changed.set()

    @contextlib.contextmanager
    def watch(self, task_id: uuid.UUID) -> Iterator[TaskWatch]:
        """Be woken for the task's new events while inside the block."""
        watch = TaskWatch()
        self._by_task.setdefault(task_id, set()).add(watch)
        try:
            yield watch
        finally:
            watches = self._by_task[task_id]
            watches.discard(watch)
            if not watches:
                del self._by_task[task_id]
