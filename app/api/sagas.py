"""/api/v1/sagas: ordered steps with compensation, created in one transaction.

A saga is a task of its own (executionType Saga) that waits, in status Created, while
its steps run one after another and, if one fails, while the compensations of the
steps that succeeded run newest first. The database moves it on in the transaction of
each step's ending (docs/design/dependencies.md, "Saga").
"""

from __future__ import annotations

import uuid

from quart import Blueprint, Response
from quart_schema import document_request, document_response
from werkzeug.datastructures import Headers

from app.api.auth import charge_tasks, require_api_key, tenant_scope
from app.api.batches import to_command
from app.api.bodies import json_bodies_only, model_response, request_model
from app.api.dependencies import deps
from app.api.problems import ProblemError
from app.api.representation import rendered
from app.api.saga_schemas import CreateSagaRequest, SagaBody
from app.api.schemas import CancelResult
from app.api.tasks import idempotency_key
from app.api.tracing import current_trace_id
from app.application.sagas import (
    CreateSaga,
    SagaRecord,
    SagaStep,
    SagaStore,
    cancel_saga,
    create_saga,
    get_saga,
)
from app.domain.enums import TaskStatus
from app.domain.sagas import SagaPhase

blueprint = Blueprint("sagas", __name__, url_prefix="/api/v1")
blueprint.before_request(require_api_key)
blueprint.before_request(json_bodies_only)

_OUTCOMES = {
    SagaPhase.COMPLETED: "completed",
    SagaPhase.COMPENSATED: "compensated",
    SagaPhase.COMPENSATION_FAILED: "compensation_failed",
}


def store() -> SagaStore:
    found = deps().sagas
    if found is None:
        raise ProblemError(503, "Sagas are not available in this process.")
    return found


@blueprint.post("/sagas")
@document_request(CreateSagaRequest)
@document_response(SagaBody, 201)
@document_response(SagaBody, 200)
async def new_saga() -> Response:
    """Create a saga and its steps in one transaction (1 to 100 steps).

    The first step is queued at once; each later one is held (Created) until the one
    before it succeeded, its `{"$fromStep": …}` references then filled in from earlier
    steps' results. If a step is dead-lettered or cancelled, the compensations of the
    steps that succeeded run newest first, each a task with its own retries.

    Send `Idempotency-Key` to make retries safe: the same key with the same body returns
    the same saga (`Idempotent-Replayed: true`); with another body it is a 422.
    """
    data = await request_model(CreateSagaRequest)
    key = idempotency_key()
    compensations = sum(1 for s in data.steps if s.compensation)
    await charge_tasks(len(data.steps) + compensations)
    tenant_id, default = tenant_scope(), deps().default_max_attempts
    command = CreateSaga(
        tenant_id=tenant_id,
        steps=[
            SagaStep(
                task=to_command(s, tenant_id, default),
                compensation=to_command(s.compensation, tenant_id, default)
                if s.compensation
                else None,
                name=s.name,
            )
            for s in data.steps
        ],
        compensate_failed_step=data.compensate_failed_step,
        priority=data.priority,
        correlation_id=data.correlation_id,
        trace_id=current_trace_id(),
        idempotency_key=key,
        request_hash=data.fingerprint() if key else None,
    )
    created = await create_saga(command, sagas=store())
    headers = Headers({"Location": f"/api/v1/sagas/{created.saga.id}"})
    if not created.created:
        headers["Idempotent-Replayed"] = "true"
    return model_response(saga_body(created.saga), 201 if created.created else 200, headers)


@blueprint.get("/sagas/<uuid:saga_id>")
@document_response(SagaBody, 200)
async def show_saga(saga_id: uuid.UUID) -> Response:
    """Each step and its compensation with their statuses, and the saga's timeline (its
    own events and its steps' and compensations', oldest first)."""
    record = await get_saga(tenant_scope(), saga_id, sagas=store())
    return model_response(saga_body(record), 200)


@blueprint.post("/sagas/<uuid:saga_id>/cancel")
@document_response(CancelResult, 200)
async def saga_cancel(saga_id: uuid.UUID) -> Response:
    """Cancel a running saga: its held steps at once, its running step by asking its
    worker; then the steps that succeeded are compensated and the saga ends Cancelled.
    A saga that is compensating or has ended is a 409."""
    tenant_id = tenant_scope()
    status = await cancel_saga(tenant_id, saga_id, sagas=store(), tasks=deps().tasks)
    task = await deps().tasks.get(tenant_id, saga_id)
    assert task is not None
    outcome = "cancelled" if status is TaskStatus.CANCELLED else "requested"
    return model_response(CancelResult(task=await rendered(task), outcome=outcome), 200)


def saga_body(record: SagaRecord) -> SagaBody:
    return SagaBody.model_validate(
        {
            "id": record.id,
            "status": record.status,
            "phase": record.phase,
            "outcome": _OUTCOMES.get(record.phase),
            "failed_step": record.failed_step,
            "failed_compensation_step": record.failed_compensation,
            "compensate_failed_step": record.compensate_failed_step,
            "cancel_requested": record.cancel_requested_at is not None,
            "created_at": record.created_at,
            "completed_at": record.completed_at,
            "steps": [
                {
                    "position": s.position,
                    "name": s.name,
                    "task_id": s.task_id,
                    "type": s.type,
                    "status": s.status,
                    "attempts": s.attempts,
                    "last_error": s.last_error,
                    "compensation_type": s.compensation_type,
                    "compensation_task_id": s.compensation_task_id,
                    "compensation_status": s.compensation_status,
                    "compensation_attempts": s.compensation_attempts,
                    "compensation_error": s.compensation_error,
                    "compensation_order": s.compensation_order,
                }
                for s in record.steps
            ],
            "timeline": [
                {
                    "task_id": e.task_id,
                    "event_type": e.event_type,
                    "status": e.status,
                    "occurred_at": e.occurred_at,
                    "detail": dict(e.detail),
                }
                for e in record.timeline
            ],
        }
    )
