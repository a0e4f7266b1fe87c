"""PgSagaStore: sagas (a parent task, its group row, its steps, their compensations)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from app.adapters.postgres.batch_store import _child, _spec
from app.adapters.postgres.connection_scope import ConnectionScope
from app.adapters.postgres.queries import query
from app.application.sagas import (
    SAGA_TASK_TYPE,
    CreateSaga,
    SagaRecord,
    StepView,
    TimelineEntry,
)
from app.domain.enums import TaskStatus
from app.domain.sagas import SagaPhase


class PgSagaStore(ConnectionScope):
    """SagaStore over a pool, or over one connection (a caller's own transaction)."""

    async def create(
        self, saga: CreateSaga, saga_id: uuid.UUID, step_ids: Sequence[uuid.UUID]
    ) -> bool:
        parent = {
            "id": str(saga_id),
            "tenant_id": str(saga.tenant_id),
            "type": SAGA_TASK_TYPE,
            "priority": saga.priority,
            "idempotency_key": saga.idempotency_key,
            "request_hash": saga.request_hash,
            "correlation_id": saga.correlation_id,
            "trace_id": saga.trace_id,
            "total": len(saga.steps),
            "compensate_failed_step": saga.compensate_failed_step,
        }
        steps = []
        for position, (step_id, step) in enumerate(zip(step_ids, saga.steps, strict=True)):
            row = _child(step_id, step.task)
            row["position"] = position
            row["name"] = step.name
            row["compensation"] = _spec(step.compensation) if step.compensation else None
            steps.append(row)
        params = {"saga": Jsonb(parent), "steps": Jsonb(steps)}
        async with self._connection() as conn:
            cursor = await conn.execute(query("saga_create"), params)
            return await cursor.fetchone() is not None

    async def get(self, tenant_id: uuid.UUID, saga_id: uuid.UUID) -> SagaRecord | None:
        ids = {"id": saga_id, "tenant_id": tenant_id}
        async with self._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query("saga_get"), ids)
            row = await cur.fetchone()
            if row is None:
                return None
            await cur.execute(query("saga_step_list"), ids)
            steps = [_step(r) for r in await cur.fetchall()]
            await cur.execute(query("saga_timeline"), ids)
            timeline = [
                TimelineEntry(
                    task_id=r["task_id"],
                    event_type=r["event_type"],
                    status=TaskStatus(r["status"]),
                    occurred_at=r["occurred_at"],
                    detail=r["detail"],
                )
                for r in await cur.fetchall()
            ]
        return SagaRecord(
            id=row["id"],
            tenant_id=row["tenant_id"],
            status=TaskStatus(row["status"]),
            phase=SagaPhase(row["phase"]),
            failed_step=row["failed_step"],
            failed_compensation=row["failed_compensation"],
            compensate_failed_step=bool(row["compensate_failed_step"]),
            request_hash=row["request_hash"],
            created_at=row["created_at"],
            completed_at=row["completed_at"],
            cancel_requested_at=row["cancel_requested_at"],
            steps=steps,
            timeline=timeline,
        )

    async def find(self, tenant_id: uuid.UUID, idempotency_key: str) -> uuid.UUID | None:
        async with self._connection() as conn:
            cursor = await conn.execute(
                query("saga_get_by_idempotency_key"),
                {"tenant_id": tenant_id, "key": idempotency_key},
            )
            row = await cursor.fetchone()
        return row[0] if row else None


def _step(r: dict[str, Any]) -> StepView:
    comp_status = r["compensation_status"]
    return StepView(
        position=r["position"],
        name=r["name"],
        task_id=r["task_id"],
        type=r["type"],
        status=TaskStatus(r["status"]),
        attempts=r["attempt_count"],
        last_error=r["last_error"],
        compensation_type=r["compensation_type"],
        compensation_task_id=r["compensation_task_id"],
        compensation_status=TaskStatus(comp_status) if comp_status else None,
        compensation_attempts=r["compensation_attempts"],
        compensation_error=r["compensation_error"],
        compensation_order=r["compensation_order"],
    )
