"""Requests that wait for their task (executionType Sync, `Prefer: wait=N`, long polls).

POST /api/v1/tasks waits for the task to finish; GET /api/v1/tasks/{id} waits for its
status to change. Neither polls the database: the request registers with the process's
change watcher (app.api.streams.EventHub, which reads new task_events rows a few times
a second) and sleeps until the watcher reports a new status for its task. It reads the
task when it registers (so a change just before is not missed), when the watcher
reports a status it waits for, and once more when its time runs out.

A waiting request gives back its place among its key's requests in progress
(API_MAX_IN_FLIGHT_PER_KEY) and is counted among its key's waiting requests instead
(API_MAX_WAITING_PER_KEY, API_MAX_WAITING per process): waits for slow tasks never
stall the rest of what a key sends. A client that leaves while waiting ends only its
request: the task runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from quart import request

from app.api.auth import held_refusal, principal, release_in_flight, tenant_scope
from app.api.dependencies import deps
from app.api.problems import ProblemError
from app.api.streams import EventHub, current_hub
from app.application.task_repository import TaskRecord
from app.application.tasks import TaskNotFound
from app.application.waiting import TaskWatch
from app.domain.enums import TaskStatus
from app.domain.prefer import parse_prefer, wait_seconds
from app.domain.task import TERMINAL_STATUSES

PREFER_HEADER = "Prefer"
APPLIED_HEADER = "Preference-Applied"
CHANGED_HEADER = "X-Status-Changed"
WAIT_QUERY = "waitSeconds"
VARY = {"Vary": PREFER_HEADER}


def finished(status: TaskStatus) -> bool:
    return status in TERMINAL_STATUSES


@dataclass(frozen=True, slots=True)
class Wait:
    """How long this request asks to wait, and whether a `wait` preference asked it."""

    seconds: int
    preferred: bool

    def applied_headers(self) -> dict[str, str]:
        return {APPLIED_HEADER: f"wait={self.seconds}"} if self.preferred else {}


def requested_wait(*, sync: bool) -> Wait:
    """POST: `Prefer: wait=N`, else API_SYNC_WAIT_SECONDS for a Sync task, else none."""
    policy = deps().waiting
    default = policy.sync_default_seconds if sync else 0
    preferences = parse_prefer(request.headers.getlist(PREFER_HEADER))
    seconds, preferred = wait_seconds(preferences, default=default, maximum=policy.max_seconds)
    return Wait(seconds, preferred)


def requested_poll() -> Wait:
    """GET: `?waitSeconds=N` (0 to API_MAX_WAIT_SECONDS, else a 422), or `Prefer: wait=N`."""
    maximum = deps().waiting.max_seconds
    raw = request.args.get(WAIT_QUERY)
    if raw is None:
        preferences = parse_prefer(request.headers.getlist(PREFER_HEADER))
        seconds, preferred = wait_seconds(preferences, default=0, maximum=maximum)
        return Wait(seconds, preferred)
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9 and int(raw) <= maximum):
        message = f"must be a whole number of seconds from 0 to {maximum}"
        raise ProblemError(
            422,
            f"{WAIT_QUERY} {message}.",
            slug="validation-failed",
            errors=[{"field": WAIT_QUERY, "message": message}],
        )
    return Wait(int(raw), False)


class TaskWait:
    """One request's wait for one task, registered with the change watcher."""

    def __init__(self, hub: EventHub, watch: TaskWatch, task_id: uuid.UUID, seconds: int) -> None:
        self._hub, self._watch, self.task_id = hub, watch, task_id
        self._deadline = asyncio.get_running_loop().time() + seconds

    async def read(self) -> TaskRecord:
        task = await deps().tasks.get(tenant_scope(), self.task_id)
        if task is None:
            raise TaskNotFound(self.task_id)
        self._watch.seen(task.status.value)
        return task

    async def until(self, done: Callable[[TaskStatus], bool], task: TaskRecord) -> TaskRecord:
        """The task once `done(status)`, or as it is when the time runs out."""
        loop = asyncio.get_running_loop()
        watch = self._watch
        while not done(task.status):
            remaining = self._deadline - loop.time()
            if remaining <= 0 or self._hub.closing.is_set():
                return await self.read()  # the time ran out: as it is now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.changed.wait(), remaining)
            if not watch.changed.is_set():
                continue
            watch.changed.clear()
            # The watcher says which status: read the row only for one worth answering.
            if watch.status is not None and done(TaskStatus(watch.status)):
                task = await self.read()
        return task


@contextlib.asynccontextmanager
async def task_wait(
    task_id: uuid.UUID, seconds: int, *, refuse: bool
) -> AsyncIterator[TaskWait | None]:
    """A registered wait for the task, or None when there is nothing to wait with (no
    hub) or, unless `refuse` (then a 429), when the key or the process waits too much."""
    hub = current_hub()
    if hub is None or seconds <= 0:
        yield None
        return
    policy, key = deps().waiting, str(principal().key_id)
    if not policy.try_reserve(key):
        if not refuse:
            yield None
            return
        full = policy.waiting_for(key) >= policy.per_key
        where = (
            f"per API key ({policy.per_key})" if full else f"on this server ({policy.per_process})"
        )
        raise await held_refusal(1, f"Too many requests waiting for tasks {where}; wait for one.")
    release_in_flight()  # counted among the key's waiting requests from here on
    try:
        with hub.tasks.watch(task_id) as watch:
            yield TaskWait(hub, watch, task_id, seconds)
    finally:
        policy.release(key)


async def wait_until_finished(task: TaskRecord, wait: Wait) -> tuple[TaskRecord, bool]:
    """POST: the task once finished, or as it is when the wait ends; and whether the
    wait was honoured (False: no hub, or the caps were full, so the answer is at once)."""
    if finished(task.status):
        return task, True
    async with task_wait(task.id, wait.seconds, refuse=False) as waiting:
        if waiting is None:
            return task, False
        # Read after registering: a finish since the insert committed is seen here.
        return await waiting.until(finished, await waiting.read()), True


async def long_poll(task_id: uuid.UUID, wait: Wait) -> tuple[TaskRecord, bool | None]:
    """GET: the task once its status differs from the one it had when the request came
    (at once if it has finished), or as it is when the time runs out; and whether its
    status changed (None when no wait ran)."""
    async with task_wait(task_id, wait.seconds, refuse=True) as waiting:
        if waiting is None:
            task = await deps().tasks.get(tenant_scope(), task_id)
            if task is None:
                raise TaskNotFound(task_id)
            return task, None
        first = await waiting.read()
        if finished(first.status):
            return first, False
        task = await waiting.until(lambda status: status != first.status, first)
        return task, task.status != first.status
