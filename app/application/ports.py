"""The ports a worker needs for the tasks it leases, as Protocols, and the plain records
that cross them: the leased task, an attempt's start, progress, artifacts, usage and end."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.domain.enums import CapabilityType
from app.domain.outcome import Outcome
from app.domain.waits import Park


@dataclass(frozen=True, slots=True)
class LeasedTask:
    """A task a worker holds a lease on; `attempt_id` identifies the lease."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    type: str
    capability_type: CapabilityType | None
    payload: Mapping[str, Any]
    attempt_id: int
    attempt_no: int
    max_attempts: int
    timeout_seconds: int | None
    retry_policy: Mapping[str, float] | None
    trace_id: str | None
    correlation_id: str | None
    # The answers to the task's earlier waits, by wait key (docs/design/waits.md).
    resume: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """What an attempt cost, when the handler reports it."""

    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    latency_ms: int | None = None
    # Provider calls added up by `plus` (0: none, or one reported by `report_usage`).
    calls: int = 0

    def log_fields(self) -> dict[str, object]:
        """What a log line says of spent usage whose attempt row cannot be written (a
        lost lease): the tokens were paid for, so they are not silently dropped."""
        if self == Usage():
            return {}
        return {
            "usage_model": self.model,
            "usage_tokens_in": self.tokens_in,
            "usage_tokens_out": self.tokens_out,
            "usage_cost": self.cost,
        }

    def plus(self, other: Usage) -> Usage:
        """This usage and `other`'s together, as `TaskContext.add_usage` counts them."""
        if self == Usage():
            return Usage(
                other.model, other.tokens_in, other.tokens_out, other.cost, other.latency_ms, 1
            )

        def total(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else a + b

        def count(a: int | None, b: int | None) -> int | None:
            return None if a is None and b is None else (a or 0) + (b or 0)

        return Usage(
            model=other.model or self.model,
            tokens_in=count(self.tokens_in, other.tokens_in),
            tokens_out=count(self.tokens_out, other.tokens_out),
            cost=total(self.cost, other.cost),
            latency_ms=count(self.latency_ms, other.latency_ms),
            calls=max(self.calls, 1) + 1,
        )


# What an attempt that reported nothing cost: shared, so `usage is NO_USAGE` is cheap.
NO_USAGE = Usage()


@dataclass(frozen=True, slots=True)
class FinishedAttempt:
    """The end of one attempt, ready to be written."""

    task_id: uuid.UUID
    attempt_id: int
    outcome: Outcome
    result_json: str | None = None
    usage: Usage = field(default_factory=Usage)
    # False: handed back or cancelled before its handler started (no attempt ran).
    started: bool = True
    # How long ago the handler started, when its start is written with this end
    # (the worker had not written it yet): the TaskRunning event comes with the finish.
    start_unwritten_ran_seconds: float | None = None
    # The handler asked to wait (input, a signal): the task is parked, not finished.
    park: Park | None = None


@dataclass(frozen=True, slots=True)
class StartedAttempt:
    """A handler that started: its Reserved task becomes Running."""

    task_id: uuid.UUID
    attempt_id: int
    # How long ago it started (the database dates the start from its own clock).
    ran_seconds: float


@dataclass(frozen=True, slots=True)
class ProgressUpdate:
    """The latest progress of a running task, coalesced since the last flush."""

    task_id: uuid.UUID
    attempt_id: int
    progress: int | None
    state: str | None
    metadata: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Artifact:
    """An output written by a handler while it runs.

    `size_bytes` is the size of what `uri` names (a file in the artifact store, say);
    inline `content` is measured by the store instead, so its size is never taken from here.
    """

    kind: str
    content: str | None = None
    uri: str | None = None
    name: str | None = None
    content_type: str = "application/json"
    size_bytes: int | None = None


class LeaseStore(Protocol):
    """Everything a worker does to the tasks it leases. Every write is guarded by the lease."""

    async def lease_available(
        self, worker_id: str, limit: int, lease_seconds: float
    ) -> list[LeasedTask]:
        """Claim up to `limit` due tasks, highest priority first."""
        ...

    async def start_attempts(self, worker_id: str, started: Sequence[StartedAttempt]) -> set[int]:
        """Mark Reserved tasks Running (their handlers started); return the attempt ids
        that moved (still Reserved under their lease)."""
        ...

    async def finish_attempts(
        self, worker_id: str, finished: Sequence[FinishedAttempt]
    ) -> set[int]:
        """Write attempt outcomes; return the attempt ids that still held their lease."""
        ...

    async def extend_leases(
        self, leases: Sequence[tuple[uuid.UUID, int]], lease_seconds: float
    ) -> dict[int, bool]:
        """Renew leases; return {attempt_id: cancel_requested} for the ones still held."""
        ...

    async def record_progress(self, updates: Sequence[ProgressUpdate]) -> None:
        """Store coalesced progress of running tasks."""
        ...

    async def add_artifact(self, task_id: uuid.UUID, attempt_id: int, artifact: Artifact) -> bool:
        """Store an artifact while the lease is held; False if it no longer is."""
        ...


class TaskSignals(Protocol):
    """Wake-ups from the database: new work, and cancel requests for running tasks."""

    async def listen(
        self, on_work: Callable[[], None], on_cancel: Callable[[uuid.UUID], None]
    ) -> None:
        """Deliver signals until cancelled; reconnects by itself after a failure."""
        ...


Hook = Callable[[], Awaitable[None]]
