"""/api/v1/schedules: cron schedules, each tick starting one task.

The maintenance leader starts the ticks (docs/design/schedules.md); these handlers only
create, show, pause, resume and delete. Schedules declared in code (`source: code`) may
be paused and resumed here; changing or deleting one is a 409 (change the code).
"""

from __future__ import annotations

import uuid

from quart import Blueprint, Response
from quart_schema import document_request, document_response, validate_querystring
from werkzeug.datastructures import Headers

from app.api.auth import require_api_key, tenant_scope
from app.api.bodies import json_bodies_only, model_response, refuse_unfit_payloads, request_model
from app.api.dependencies import deps
from app.api.problems import ProblemError
from app.api.schedule_schemas import (
    CreateScheduleRequest,
    ScheduleBody,
    ScheduleList,
    ScheduleListQuery,
)
from app.api.tasks import command
from app.application.schedules import (
    CreateSchedule,
    ScheduleRecord,
    ScheduleStore,
    create_schedule,
    delete_schedule,
    get_schedule,
    pause_schedule,
    resume_schedule,
)

blueprint = Blueprint("schedules", __name__, url_prefix="/api/v1")
blueprint.before_request(require_api_key)
blueprint.before_request(json_bodies_only)


def store() -> ScheduleStore:
    found = deps().schedules
    if found is None:
        raise ProblemError(503, "Schedules are not available in this process.")
    return found


@blueprint.post("/schedules")
@document_request(CreateScheduleRequest)
@document_response(ScheduleBody, 201)
async def new_schedule() -> Response:
    """Create a schedule: `task` starts at every tick of `cron` in `timezone` (exactly one
    task per tick, however many workers run). Its first tick is the first after now.

    An invalid `cron` or `timezone` is a 422 naming the field; a name the tenant already
    uses is a 409. Each tick's task has the normal first event, `TaskQueued`, with
    `schedule: {id, tick}`.
    """
    data = await request_model(CreateScheduleRequest)
    try:
        await refuse_unfit_payloads([data.task], batch=False)
    except ProblemError as error:  # name the field under `task`, where the body has it
        error.errors = [{**e, "field": f"task.{e['field']}"} for e in error.errors or []]
        raise
    tenant_id, dependencies = tenant_scope(), deps()
    task = command(
        data.task, tenant_id, None, default_max_attempts=dependencies.default_max_attempts
    )
    record = await create_schedule(
        CreateSchedule(
            tenant_id=tenant_id,
            name=data.name,
            cron=data.cron,
            timezone=data.timezone,
            task=task,
            missed=data.missed,
            paused=data.paused,
        ),
        schedules=store(),
    )
    headers = Headers({"Location": f"/api/v1/schedules/{record.id}"})
    return model_response(schedule_body(record), 201, headers)


@blueprint.get("/schedules")
@validate_querystring(ScheduleListQuery)
@document_response(ScheduleList, 200)
async def list_schedules(query_args: ScheduleListQuery) -> Response:
    """The tenant's schedules by name, a page at a time (`nextAfter` pages on)."""
    size = query_args.page_size
    rows = await store().page(tenant_scope(), after=query_args.after, limit=size)
    body = ScheduleList(
        items=[schedule_body(row) for row in rows],
        next_after=rows[-1].name if len(rows) == size else None,
    )
    return model_response(body, 200)


@blueprint.get("/schedules/<uuid:schedule_id>")
@document_response(ScheduleBody, 200)
async def show_schedule(schedule_id: uuid.UUID) -> Response:
    """A schedule with its next 5 ticks (`nextRuns`, in its time zone)."""
    record = await get_schedule(tenant_scope(), schedule_id, schedules=store())
    return model_response(schedule_body(record), 200)


@blueprint.post("/schedules/<uuid:schedule_id>/pause")
@document_response(ScheduleBody, 200)
async def pause(schedule_id: uuid.UUID) -> Response:
    """Pause a schedule: no task starts until it is resumed. Pausing a paused one is
    no change."""
    record = await pause_schedule(tenant_scope(), schedule_id, schedules=store())
    return model_response(schedule_body(record), 200)


@blueprint.post("/schedules/<uuid:schedule_id>/resume")
@document_response(ScheduleBody, 200)
async def resume(schedule_id: uuid.UUID) -> Response:
    """Resume a paused schedule from its first tick after now: the ticks it had while
    paused start no task. A code schedule its code no longer declares is a 409."""
    record = await resume_schedule(tenant_scope(), schedule_id, schedules=store())
    return model_response(schedule_body(record), 200)


@blueprint.delete("/schedules/<uuid:schedule_id>")
async def remove(schedule_id: uuid.UUID) -> Response:
    """Delete a schedule; the tasks it started stay. A code schedule still declared in
    code is a 409 (remove it from the code, or pause it)."""
    await delete_schedule(tenant_scope(), schedule_id, schedules=store())
    return Response(status=204)


def schedule_body(record: ScheduleRecord) -> ScheduleBody:
    return ScheduleBody.model_validate(
        {
            "id": record.id,
            "name": record.name,
            "cron": record.cron,
            "timezone": record.timezone,
            "task": dict(record.task),
            "missed": record.missed,
            "paused": record.paused,
            "source": record.source,
            "retired_at": record.retired_at,
            "next_run_at": None if record.paused else record.next_run_at,
            "next_runs": record.upcoming(),
            "last_tick_at": record.last_tick_at,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
        }
    )
