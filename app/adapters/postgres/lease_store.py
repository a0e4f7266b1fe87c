"""PgLeaseStore: the worker's side of the tasks table, one statement per batch."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from app.adapters.postgres.dependency_settle import settle_rows
from app.adapters.postgres.queries import query
from app.application.ports import (
    Artifact,
    FinishedAttempt,
    LeasedTask,
    ProgressUpdate,
    StartedAttempt,
)
from app.domain import outcome as outcomes
from app.domain.enums import CapabilityType
from app.domain.outcome import Outcome

# Rows per claim statement before a claim is split, and the most statements at once.
CLAIM_CHUNK = 100
MAX_PARALLEL_CLAIMS = 3


class PgLeaseStore:
    """LeaseStore over a psycopg pool; every write is guarded by the attempt holding the lease."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        # Attempts of children (of a batch) this store leased: their finish also settles
        # their parents, in one transaction. Plain tasks keep the single autocommit
        # statement, with nothing added.
        self._child_attempts: set[int] = set()

    async def lease_available(
        self, worker_id: str, limit: int, lease_seconds: float
    ) -> list[LeasedTask]:
        """A large claim runs as a few statements at once, each on its own connection:
        a worker with hundreds of free slots (long AI calls) fills them in the time of
        one statement of CLAIM_CHUNK rows, not of one statement of all of them."""
        parts = min(MAX_PARALLEL_CLAIMS, max(1, limit // CLAIM_CHUNK))
        if parts == 1:
            return await self._lease(worker_id, limit, lease_seconds)
        sizes = [limit // parts + (n < limit % parts) for n in range(parts)]
        results = await asyncio.gather(
            *(self._lease(worker_id, size, lease_seconds) for size in sizes),
            return_exceptions=True,
        )
        leased = [task for part in results if isinstance(part, list) for task in part]
        errors = [part for part in results if isinstance(part, BaseException)]
        if errors and not leased:
            raise errors[0]
        return leased  # what one statement leased is run even if another failed

    async def _lease(self, worker_id: str, limit: int, lease_seconds: float) -> list[LeasedTask]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                query("task_lease_available"),
                {"worker_id": worker_id, "limit": limit, "lease_seconds": lease_seconds},
            )
            rows = await cursor.fetchall()
        leased = [_leased(*row[:-1]) for row in rows]
        self._child_attempts.update(row[5] for row in rows if row[-1])  # attempt_id
        return leased

    async def finish_attempts(
        self, worker_id: str, finished: Sequence[FinishedAttempt]
    ) -> set[int]:
        if not finished:
            return set()
        parks = [f for f in finished if f.park is not None]
        if parks:
            done = await self._park(worker_id, parks)
            rest = [f for f in finished if f.park is None]
            return done | (await self.finish_attempts(worker_id, rest) if rest else set())
        params = {"worker_id": worker_id, "outcomes": Jsonb([_outcome(f) for f in finished])}
        children = [f.attempt_id for f in finished if f.attempt_id in self._child_attempts]
        async with self._pool.connection() as conn:
            if not children:
                cursor = await conn.execute(query("task_finish_attempts"), params)
                return {row[0] for row in await cursor.fetchall()}
            # A child's ending reaches its parent in the same transaction: no crash can
            # leave one without the other.
            async with conn.transaction():
                cursor = await conn.execute(query("task_finish_attempts"), params)
                rows = await cursor.fetchall()
                await settle_rows(conn, [row[1:] for row in rows])
        self._child_attempts.difference_update(children)
        return {row[0] for row in rows}

    async def _park(self, worker_id: str, parks: Sequence[FinishedAttempt]) -> set[int]:
        """Park the tasks whose handlers asked to wait; a child cancelled meanwhile
        reaches its parent in the same transaction."""
        params = {"worker_id": worker_id, "parks": Jsonb([_park(f) for f in parks])}
        async with self._pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(query("task_park_attempts"), params)
            rows = await cursor.fetchall()
            await settle_rows(conn, [row[1:] for row in rows])
        self._child_attempts.difference_update(f.attempt_id for f in parks)
        return {row[0] for row in rows}

    async def start_attempts(self, worker_id: str, started: Sequence[StartedAttempt]) -> set[int]:
        if not started:
            return set()
        params = {
            "worker_id": worker_id,
            "task_ids": [s.task_id for s in started],
            "attempt_ids": [s.attempt_id for s in started],
            "ran_ms": [s.ran_seconds * 1000 for s in started],
        }
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query("task_start_attempts"), params)
            return {row[0] for row in await cursor.fetchall()}

    async def extend_leases(
        self, leases: Sequence[tuple[uuid.UUID, int]], lease_seconds: float
    ) -> dict[int, bool]:
        if not leases:
            return {}
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                query("task_extend_leases"),
                {
                    "task_ids": [task_id for task_id, _ in leases],
                    "attempt_ids": [attempt_id for _, attempt_id in leases],
                    "lease_seconds": lease_seconds,
                },
            )
            return {row[0]: row[1] for row in await cursor.fetchall()}

    async def record_progress(self, updates: Sequence[ProgressUpdate]) -> None:
        if not updates:
            return
        async with self._pool.connection() as conn:
            await conn.execute(
                query("task_record_progress"),
                {
                    "task_ids": [u.task_id for u in updates],
                    "attempt_ids": [u.attempt_id for u in updates],
                    "progresses": [u.progress for u in updates],
                    "states": [u.state for u in updates],
                    "metadata": [Jsonb(dict(u.metadata)) if u.metadata else None for u in updates],
                },
            )

    async def add_artifact(self, task_id: uuid.UUID, attempt_id: int, artifact: Artifact) -> bool:
        # Inline content is measured here; a URI's size is what the writer of the file said.
        content = artifact.content
        size = len(content.encode()) if content is not None else artifact.size_bytes
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                query("task_artifact_add"),
                {
                    "task_id": task_id,
                    "attempt_id": attempt_id,
                    "kind": artifact.kind,
                    "name": artifact.name,
                    "content_type": artifact.content_type,
                    "content": artifact.content,
                    "uri": artifact.uri,
                    "size_bytes": size,
                },
            )
            return await cursor.fetchone() is not None


def _outcome(finished: FinishedAttempt) -> dict[str, Any]:
    """One outcome as the finish statement reads it; absent keys are NULL there, so
    a plain success sends six keys, not fourteen."""
    outcome, usage = finished.outcome, finished.usage
    fields: dict[str, Any] = {
        "task_id": str(finished.task_id),
        "attempt_id": finished.attempt_id,
        "latency_ms": usage.latency_ms,
    }
    fields.update(_statuses(outcome))
    if not finished.started:
        fields["unstarted"] = True
    elif finished.start_unwritten_ran_seconds is not None:
        fields["running_event"] = True
        fields["ran_ms"] = finished.start_unwritten_ran_seconds * 1000
    for key, value in (
        ("retry_delay", outcome.retry_delay),
        ("error_code", outcome.error_code),
        ("error_detail", outcome.error_detail),
        ("result", finished.result_json),
        ("model", usage.model),
        ("tokens_in", usage.tokens_in),
        ("tokens_out", usage.tokens_out),
        ("cost", usage.cost),
    ):
        if value is not None:
            fields[key] = value
    return fields


def _park(finished: FinishedAttempt) -> dict[str, Any]:
    assert finished.park is not None
    fields = finished.park.as_json()
    fields.update(
        task_id=str(finished.task_id),
        attempt_id=finished.attempt_id,
        latency_ms=finished.usage.latency_ms,
    )
    if finished.start_unwritten_ran_seconds is not None:
        fields["running_event"] = True
        fields["ran_ms"] = finished.start_unwritten_ran_seconds * 1000
    return fields


def _statuses(outcome: Outcome) -> dict[str, str]:
    if outcome is outcomes.SUCCEEDED:  # nearly every outcome: spelled out once
        return _SUCCEEDED
    return {
        "task_status": outcome.task_status.value,
        "attempt_status": outcome.attempt_status.value,
        "event_type": outcome.event_type.value,
    }


_SUCCEEDED = {
    "task_status": outcomes.SUCCEEDED.task_status.value,
    "attempt_status": outcomes.SUCCEEDED.attempt_status.value,
    "event_type": outcomes.SUCCEEDED.event_type.value,
}


def _leased(
    task_id: uuid.UUID,
    tenant_id: uuid.UUID,
    task_type: str,
    capability: str | None,
    payload: dict[str, Any],
    attempt_id: int,
    attempt_no: int,
    max_attempts: int,
    timeout_seconds: int | None,
    retry_policy: dict[str, float] | None,
    trace_id: str | None,
    correlation_id: str | None,
    resume: dict[str, Any] | None,
) -> LeasedTask:
    """A row of task_lease_available, in its column order."""
    return LeasedTask(
        task_id,
        tenant_id,
        task_type,
        CapabilityType(capability) if capability else None,
        payload,
        attempt_id,
        attempt_no,
        max_attempts,
        timeout_seconds,
        retry_policy,
        trace_id,
        correlation_id,
        resume,
    )
