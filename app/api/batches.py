"""/api/v1/batches: a batch of tasks created in one transaction, followed as one unit.

A batch is a task of its own (executionType Batch) that waits, in status Created, until
its last child ends; the dependency mechanism (docs/design/dependencies.md) counts the
children's endings in the transactions that end them, so its completion, and its
`onComplete` callback, happen exactly once.
"""

from __future__ import annotations

import uuid

from quart import Blueprint, Response
from quart_schema import document_request, document_response, validate_querystring
from werkzeug.datastructures import Headers

from app.api.auth import charge_tasks, require_api_key, tenant_scope
from app.api.batch_schemas import (
    BatchBody,
    BatchCounts,
    ChildList,
    ChildListQuery,
    CreateBatchRequest,
)
from app.api.bodies import (
    json_bodies_only,
    model_response,
    refuse_unfit_payloads,
    request_model,
)
from app.api.dependencies import deps
from app.api.problems import ProblemError
from app.api.representation import rendered, rendered_fields
from app.api.schemas import CancelResult, CreateTask
from app.api.tasks import command, idempotency_key
from app.api.tracing import current_trace_id
from app.application.batches import (
    BatchRecord,
    BatchStore,
    CreateBatch,
    create_batch,
    get_batch,
)
from app.application.task_repository import EnqueueTask
from app.application.tasks import cancel_task
from app.domain.enums import TaskStatus

blueprint = Blueprint("batches", __name__, url_prefix="/api/v1")
blueprint.before_request(require_api_key)
blueprint.before_request(json_bodies_only)


def store() -> BatchStore:
    found = deps().batches
    if found is None:
        raise ProblemError(503, "Batches are not available in this process.")
    return found


def to_command(item: CreateTask, tenant_id: uuid.UUID, default_max_attempts: int) -> EnqueueTask:
    """A child (or the callback) as a task command: the same fields as POST /tasks."""
    return command(item, tenant_id, None, default_max_attempts=default_max_attempts)


@blueprint.post("/batches")
@document_request(CreateBatchRequest)
@document_response(BatchBody, 201)
@document_response(BatchBody, 200)
async def new_batch() -> Response:
    """Create a batch and its tasks in one transaction (1 to 10 000 tasks, one statement).

    A task may `dependsOn` others of the batch by their `name` (a DAG): it is held until
    they have all succeeded, and cancelled if one of them does not.

    The body is bounded by MAX_PAYLOAD_BYTES like every body (1 MiB by default).

    Send `Idempotency-Key` to make retries safe: the same key with the same body returns
    the same batch (`Idempotent-Replayed: true`); with another body it is a 422.
    """
    data = await request_model(CreateBatchRequest)
    key = idempotency_key()
    await refuse_unfit_payloads(data.tasks, batch=True)
    await charge_tasks(len(data.tasks) + (1 if data.on_complete else 0))
    dependencies, tenant_id = deps(), tenant_scope()
    default = dependencies.default_max_attempts
    command = CreateBatch(
        tenant_id=tenant_id,
        tasks=[to_command(t, tenant_id, default) for t in data.tasks],
        on_complete=to_command(data.on_complete, tenant_id, default) if data.on_complete else None,
        failure_policy=data.failure_policy,
        priority=data.priority,
        correlation_id=data.correlation_id,
        trace_id=current_trace_id(),
        idempotency_key=key,
        request_hash=data.fingerprint() if key else None,
        depends_on=data.dependency_indexes(),
    )
    created = await create_batch(command, batches=store())
    headers = Headers({"Location": f"/api/v1/batches/{created.batch.id}"})
    if not created.created:
        headers["Idempotent-Replayed"] = "true"
    return model_response(await batch_body(created.batch), 201 if created.created else 200, headers)


@blueprint.get("/batches/<uuid:batch_id>")
@document_response(BatchBody, 200)
async def show_batch(batch_id: uuid.UUID) -> Response:
    """Counts by status, progress (done / total) and the callback task; the children are
    listed, in the order given, at `childrenUrl`."""
    record = await get_batch(tenant_scope(), batch_id, batches=store())
    return model_response(await batch_body(record), 200)


@blueprint.get("/batches/<uuid:batch_id>/children")
@validate_querystring(ChildListQuery)
@document_response(ChildList, 200)
async def batch_children(batch_id: uuid.UUID, query_args: ChildListQuery) -> Response:
    """A page of the batch's tasks in the order they were given; `nextAfter` pages on."""
    tenant_id, batches = tenant_scope(), store()
    await get_batch(tenant_id, batch_id, batches=batches)
    size = query_args.page_size
    rows = await batches.children(tenant_id, batch_id, after=query_args.after, limit=size)
    body = ChildList.model_validate(
        {
            "items": await rendered_fields(rows),
            "next_after": rows[-1].id if len(rows) == size else None,
        }
    )
    return model_response(body, 200)


@blueprint.post("/batches/<uuid:batch_id>/cancel")
@document_response(CancelResult, 200)
async def cancel_batch(batch_id: uuid.UUID) -> Response:
    """Cancel a batch: its waiting tasks at once, its running ones by asking their
    workers. The batch ends, Cancelled, when its last task has; no callback is queued.
    A batch that already ended is a 409."""
    tenant_id, batches = tenant_scope(), store()
    await get_batch(tenant_id, batch_id, batches=batches)
    status = await cancel_task(tenant_id, batch_id, tasks=deps().tasks)
    task = await deps().tasks.get(tenant_id, batch_id)
    assert task is not None
    outcome = "cancelled" if status is TaskStatus.CANCELLED else "requested"
    return model_response(CancelResult(task=await rendered(task), outcome=outcome), 200)


async def batch_body(record: BatchRecord) -> BatchBody:
    callback = None
    if record.callback_task_id is not None:
        task = await deps().tasks.get(record.tenant_id, record.callback_task_id)
        callback = await rendered(task) if task is not None else None
    return BatchBody.model_validate(
        {
            "id": record.id,
            "status": record.status,
            "failure_policy": record.failure_policy,
            "progress": record.done / record.total if record.total else 1.0,
            "counts": BatchCounts.model_validate(
                {
                    "total": record.total,
                    "done": record.done,
                    "remaining": record.remaining,
                    "succeeded": record.succeeded,
                    "dead_lettered": record.dead_lettered,
                    "cancelled": record.cancelled,
                    "by_status": dict(record.by_status),
                }
            ),
            "generation": record.generation,
            "callback_task_id": record.callback_task_id,
            "callback_task": callback,
            "created_at": record.created_at,
            "completed_at": record.completed_at,
            "cancel_requested": record.cancel_requested_at is not None,
            "children_url": f"/api/v1/batches/{record.id}/children",
        }
    )
