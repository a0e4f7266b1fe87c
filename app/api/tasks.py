"""/api/v1/tasks: thin handlers that parse, call a use case, and map the result."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from quart import Blueprint, Response, request
from quart_schema import (
    document_request,
    document_response,
    validate_querystring,
    validate_response,
)
from werkzeug.datastructures import Headers

from app.api.auth import charge_tasks, principal, require_api_key, tenant_scope
from app.api.bodies import (
    json_bodies_only,
    model_response,
    refuse_unfit_payloads,
    request_model,
)
from app.api.dependencies import deps
from app.api.input_types import KEY_RULE, check_key
from app.api.problems import ProblemError
from app.api.representation import rendered, rendered_fields
from app.api.schemas import (
    ArtifactBody,
    ArtifactList,
    AttemptBody,
    AttemptList,
    BatchResult,
    CancelResult,
    CreateBatch,
    CreateTask,
    EventBody,
    EventList,
    Problem,
    TaskBody,
    TaskList,
    TaskListQuery,
    TaskRequest,
)
from app.api.streams import event_stream
from app.api.tracing import current_trace_id
from app.api.waiting import (
    CHANGED_HEADER,
    VARY,
    finished,
    long_poll,
    requested_poll,
    requested_wait,
    wait_until_finished,
)
from app.application.decisions import WaitStore, list_waiting
from app.application.task_repository import EnqueueTask, TaskRecord
from app.application.tasks import (
    TaskNotFound,
    cancel_task,
    enqueue_task,
    enqueue_tasks,
    requeue_task,
)
from app.domain.enums import ExecutionType, TaskStatus

blueprint = Blueprint("tasks", __name__, url_prefix="/api/v1")
blueprint.before_request(require_api_key)

IDEMPOTENCY_HEADER = "Idempotency-Key"
ERRORS = {
    400: Problem,
    401: Problem,
    403: Problem,
    404: Problem,
    409: Problem,
    413: Problem,
    415: Problem,
    422: Problem,
}


blueprint.before_request(json_bodies_only)


def command(
    body: CreateTask,
    tenant_id: uuid.UUID,
    idempotency_key: str | None,
    *,
    default_max_attempts: int,
) -> EnqueueTask:
    return EnqueueTask(
        tenant_id=tenant_id,
        type=body.type,
        payload=body.payload,
        priority=body.priority,
        domain_type=body.domain_type,
        capability_type=body.capability_type,
        execution_type=body.execution_type,
        max_attempts=body.max_attempts or default_max_attempts,
        scheduled_at=body.start_at(),
        timeout_seconds=body.timeout_seconds,
        retry_policy=body.retry_policy.as_mapping() if body.retry_policy else None,
        correlation_id=body.correlation_id,
        trace_id=current_trace_id(),
        idempotency_key=idempotency_key,
        request_hash=body.fingerprint() if idempotency_key else None,
        # Only POST /tasks (and /tasks/batch) take a wait; a batch's children and a
        # saga's steps are CreateTask, refused at the door if they try.
        wait=body.wait() if isinstance(body, TaskRequest) else None,
    )


def waits_store() -> WaitStore:
    """What parked tasks wait for, and decisions (app.api.decisions)."""
    found = deps().waits
    if found is None:
        raise ProblemError(503, "Waiting tasks are not available in this process.")
    return found


async def load_task(task_id: uuid.UUID) -> TaskRecord:
    task = await deps().tasks.get(tenant_scope(), task_id)
    if task is None:
        raise TaskNotFound(task_id)
    return task


def idempotency_key() -> str | None:
    """The Idempotency-Key header: visible ASCII only, optionally in double quotes (the
    Structured Fields form); anything else is a 400 naming the header."""
    keys = request.headers.getlist(IDEMPOTENCY_HEADER)
    if not keys:
        return None
    if len(keys) > 1:  # as with a repeated JSON key, which one counts would be a guess
        raise ProblemError(
            400,
            f"Send the {IDEMPOTENCY_HEADER} header once (it came {len(keys)} times).",
            slug="invalid-idempotency-key",
            title="Invalid Idempotency-Key",
            errors=[{"field": IDEMPOTENCY_HEADER, "message": "must be sent once"}],
        )
    key = keys[0]
    key = key.strip(" \t")  # HTTP's optional whitespace, and nothing else
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    try:
        return check_key(key)
    except ValueError:
        raise ProblemError(
            400,
            f"The {IDEMPOTENCY_HEADER} header must be {KEY_RULE}.",
            slug="invalid-idempotency-key",
            title="Invalid Idempotency-Key",
            errors=[{"field": IDEMPOTENCY_HEADER, "message": f"must be {KEY_RULE}"}],
        ) from None


# The busiest endpoints parse and render their bodies with app.api.bodies rather
# than quart-schema's validate_request/validate_response (same bodies, a fraction of
# the CPU); document_* keeps them in the OpenAPI document.
@blueprint.post("/tasks")
@document_request(TaskRequest)
@document_response(TaskBody, 202)
async def create_task() -> Response:
    """Queue a task. The task is durable and visible to workers when the 202 leaves.

    Send `Idempotency-Key` to make retries safe: the same key with the same body
    returns the same task; with another body it is a 422.

    To wait for the result, send `Prefer: wait=N` (or post an `executionType` of
    `Sync`): a task that finishes within the wait is answered `200` with its result.

    A task may wait before it runs, parked (status Created, holding no worker): for a
    person's approval (`executionType: HumanInLoop` with an `approval` block; decide
    with POST /api/v1/tasks/{id}/decision) or for a signal (`waitFor`). Its
    `waitingFor` says what it waits for.
    """
    data = await request_model(TaskRequest)
    wait = requested_wait(sync=data.execution_type is ExecutionType.SYNC)
    await refuse_unfit_payloads([data], batch=False)
    await charge_tasks(1)
    dependencies = deps()
    enqueued = await enqueue_task(
        command(
            data,
            tenant_scope(),
            idempotency_key(),
            default_max_attempts=dependencies.default_max_attempts,
        ),
        tasks=dependencies.tasks,
    )
    task = enqueued.task
    location = f"/api/v1/tasks/{task.id}"
    headers = Headers({"Location": location, **VARY})
    if not enqueued.created:
        headers["Idempotent-Replayed"] = "true"
    if wait.seconds <= 0:
        return model_response(await rendered(task), 202, headers)
    task, honoured = await wait_until_finished(task, wait)
    if honoured:
        headers.update(wait.applied_headers())
    if finished(task.status):
        headers["Content-Location"] = location
        return model_response(await rendered(task), 200, headers)
    return model_response(await rendered(task), 202, headers)


@blueprint.post("/tasks/batch")
@document_request(CreateBatch)
@document_response(BatchResult, 202)
async def create_batch() -> Response:
    """Queue up to 500 tasks in one transaction: all or nothing."""
    data = await request_model(CreateBatch)
    await refuse_unfit_payloads(data.tasks, batch=True)
    await charge_tasks(len(data.tasks))
    dependencies, tenant_id = deps(), tenant_scope()
    commands = [
        command(
            item,
            tenant_id,
            item.idempotency_key,
            default_max_attempts=dependencies.default_max_attempts,
        )
        for item in data.tasks
    ]
    enqueued = await enqueue_tasks(commands, tasks=dependencies.tasks)
    body = BatchResult.model_validate({"tasks": await rendered_fields([e.task for e in enqueued])})
    return model_response(body, 202)


@blueprint.get("/tasks")
@validate_querystring(TaskListQuery)
@document_response(TaskList, 200)
async def list_tasks(query_args: TaskListQuery) -> Response:
    """A page of the caller's tasks, newest first, each as GET shows it (results included).

    `waitingFor=decision` lists the tasks awaiting people (an approval, or input a
    handler asked for), `signal` those waiting for a signal, `any` both: the longest
    waiting first.

    `X-Total-Count` and `Link` headers page on.
    """
    filters = query_args.model_dump(include={"status", "type", "domain_type", "capability_type"})
    filters = {k: (v.value if hasattr(v, "value") else v) for k, v in filters.items()}
    size = query_args.page_size
    offset = (query_args.page - 1) * size
    if query_args.waiting_for is not None:
        tasks, total = await list_waiting(
            tenant_scope(),
            query_args.waiting_for,
            filters,
            limit=size,
            offset=offset,
            waits=waits_store(),
        )
    else:
        tasks, total = await deps().queries.list_tasks(
            tenant_scope(), filters, limit=size, offset=offset
        )
    headers = Headers({"X-Total-Count": str(total)})
    links = page_links(query_args, total)
    if links:
        headers["Link"] = links
    body = TaskList.model_validate(
        {
            "items": await rendered_fields(tasks),
            "page": query_args.page,
            "page_size": size,
            "total": total,
        }
    )
    # Rendered as the busy endpoints are (app.api.bodies): a page carries up to 200 tasks.
    return model_response(body, 200, headers)


def page_links(query_args: TaskListQuery, total: int) -> str:
    """RFC 8288 Link header with next and prev pages, built from the validated query."""
    params = query_args.model_dump(mode="json", by_alias=True, exclude_none=True)
    links = []
    size, page = query_args.page_size, query_args.page
    for rel, target in (("prev", page - 1), ("next", page + 1)):
        if target < 1 or (target - 1) * size >= total:
            continue
        query = urlencode({**params, "page": target, "pageSize": size})
        links.append(f'</api/v1/tasks?{query}>; rel="{rel}"')
    return ", ".join(links)


@blueprint.get("/tasks/<uuid:task_id>")
@document_response(TaskBody, 200)
async def get_task(task_id: uuid.UUID) -> Response:
    """Status, progress and state, attempts, last error, timestamps, payload and result.

    With `Prefer: wait=N` or `?waitSeconds=N`, a long poll: the answer comes when the
    task's status changes (`X-Status-Changed: true`) or after N seconds (`false`).
    """
    wait = requested_poll()
    headers = Headers(VARY)
    if wait.seconds <= 0:
        return model_response(await rendered(await load_task(task_id)), 200, headers)
    task, changed = await long_poll(task_id, wait)
    if changed is not None:
        headers.update(wait.applied_headers())
        headers[CHANGED_HEADER] = "true" if changed else "false"
    return model_response(await rendered(task), 200, headers)


@blueprint.post("/tasks/<uuid:task_id>/cancel")
@validate_response(CancelResult, 200)
async def cancel(task_id: uuid.UUID) -> CancelResult:
    """Cancel (best effort): a waiting task at once, a running one by asking its worker.

    A task that already finished is a 409.
    """
    status = await cancel_task(tenant_scope(), task_id, tasks=deps().tasks)
    task = await load_task(task_id)
    outcome = "cancelled" if status is TaskStatus.CANCELLED else "requested"
    return CancelResult(task=await rendered(task), outcome=outcome)


@blueprint.post("/tasks/<uuid:task_id>/requeue")
@validate_response(TaskBody, 200)
async def requeue(task_id: uuid.UUID) -> TaskBody:
    """Put a DeadLetter (or Failed) task back in the queue with fresh attempts.

    It gets as many attempts as it was given (`maxAttempts` grows by that many), and
    its attempts are numbered on from the last one: `attemptCount` is not reset.
    """
    await requeue_task(
        tenant_scope(), task_id, requested_by=principal().tenant_name, tasks=deps().tasks
    )
    return await rendered(await load_task(task_id))


@blueprint.get("/tasks/<uuid:task_id>/attempts")
@validate_response(AttemptList, 200)
async def attempts(task_id: uuid.UUID) -> AttemptList:
    """Every attempt: worker, times, status, error, and model, tokens, cost, latency."""
    await load_task(task_id)
    rows = await deps().queries.attempts(task_id)
    return AttemptList(items=[AttemptBody.model_validate(_float_cost(r)) for r in rows])


def _float_cost(row: dict[str, Any]) -> dict[str, Any]:
    cost = row.get("cost")
    return {**row, "cost": float(cost) if cost is not None else None}


@blueprint.get("/tasks/<uuid:task_id>/artifacts")
@validate_response(ArtifactList, 200)
async def artifacts(task_id: uuid.UUID) -> ArtifactList:
    """The task's outputs; fetch one to get its content."""
    await load_task(task_id)
    rows = await deps().queries.artifacts(task_id)
    base = f"/api/v1/tasks/{task_id}/artifacts"
    return ArtifactList(
        items=[
            ArtifactBody.model_validate({**row, "content_url": f"{base}/{row['id']}"})
            for row in rows
        ]
    )


# Content written by a handler (maybe by a model): never let a browser run it here.
UNTRUSTED_CONTENT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
}


@blueprint.get("/tasks/<uuid:task_id>/artifacts/<uuid:artifact_id>")
async def artifact_content(task_id: uuid.UUID, artifact_id: uuid.UUID) -> Response:
    """The artifact itself: its content with its content type (inline or from the
    artifact store), or a redirect to its http(s) URI."""
    await load_task(task_id)
    dependencies = deps()
    row = await dependencies.queries.artifact(task_id, artifact_id)
    if row is None:
        raise ProblemError(404, f"task {task_id} has no artifact {artifact_id}", slug="not-found")
    content: str | bytes | None = row["content"]
    if content is None:
        uri, store = str(row["uri"]), dependencies.artifacts
        if store is not None and store.owns(uri):
            content = await store.get(uri, task_id=task_id)
            if content is None:
                raise ProblemError(
                    404, f"The stored file of artifact {artifact_id} is missing.", slug="not-found"
                )
        elif uri.startswith(("https://", "http://")):
            return Response("", status=302, headers={"Location": uri})
        else:
            raise ProblemError(
                404,
                "This artifact is stored outside HTTP; its uri is in the listing.",
                slug="not-found",
            )
    return Response(
        content, status=200, content_type=row["content_type"], headers=UNTRUSTED_CONTENT_HEADERS
    )


@blueprint.get("/tasks/<uuid:task_id>/events")
@document_response(EventList, 200)
async def events(task_id: uuid.UUID) -> Any:
    """The task's timeline. With `Accept: text/event-stream`, a live stream (SSE)."""
    await load_task(task_id)
    if "text/event-stream" in request.headers.get("Accept", ""):
        return await event_stream(deps(), tenant_scope(), str(principal().key_id), task_id=task_id)
    rows = await deps().queries.events_after(task_id, 0)
    body = EventList(items=[EventBody.model_validate(r) for r in rows])
    return body.model_dump(mode="json", by_alias=True)
