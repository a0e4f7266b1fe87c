"""/api/v1/triggers: when an event happens, start a task.

A trigger waits for task events (filtered by event type, status, task type) or for a
signal, and starts a task whose payload is a template filled in from the event. The
database fires it in the transaction that wrote the event (docs/design/triggers.md).
"""

from __future__ import annotations

import uuid
from typing import Any

from quart import Blueprint, Response
from quart_schema import document_request, document_response
from werkzeug.datastructures import Headers

from app.api.auth import require_api_key, tenant_scope
from app.api.bodies import json_bodies_only, model_response, request_model
from app.api.dependencies import deps
from app.api.problems import ProblemError
from app.api.trigger_schemas import CreateTriggerRequest, TriggerBody, TriggerList, TriggerTask
from app.application.triggers import (
    CreateTrigger,
    InvalidTrigger,
    TriggerRecord,
    TriggerStore,
    create_trigger,
    delete_trigger,
    get_trigger,
    list_triggers,
    set_trigger_active,
)
from app.domain.triggers import EventFilter

blueprint = Blueprint("triggers", __name__, url_prefix="/api/v1")
blueprint.before_request(require_api_key)
blueprint.before_request(json_bodies_only)


def store() -> TriggerStore:
    found = deps().triggers
    if found is None:
        raise ProblemError(503, "Triggers are not available in this process.")
    return found


def task_spec(task: TriggerTask, default_max_attempts: int) -> dict[str, Any]:
    """The task to start as task_triggers.task keeps it: camelCase, every default filled
    in here, once (the database reads it as it is)."""
    spec: dict[str, Any] = {
        "type": task.type,
        "payload": task.payload,
        "priority": task.priority,
        "executionType": task.execution_type.value,
        "maxAttempts": task.max_attempts or default_max_attempts,
    }
    for key, value in (
        ("domainType", task.domain_type.value if task.domain_type else None),
        ("capabilityType", task.capability_type.value if task.capability_type else None),
        ("timeoutSeconds", task.timeout_seconds),
        ("retryPolicy", task.retry_policy.as_mapping() if task.retry_policy else None),
        ("correlationId", task.correlation_id),
        ("delaySeconds", task.delay_seconds),
    ):
        if value is not None:
            spec[key] = value
    return spec


@blueprint.post("/triggers")
@document_request(CreateTriggerRequest)
@document_response(TriggerBody, 201)
async def new_trigger() -> Response:
    """Create a trigger, active at once.

    `on` says what fires it: task events (`eventTypes`, `statuses`, `taskTypes`: each one
    given must match; at least one) or a signal (`signal`: its name). `task` is the task
    it starts, as POST /api/v1/tasks takes it, its payload a template (`{"$from":
    "result.text"}`). A path the event cannot have is a 422 naming it. A name the tenant
    already uses is a 409.
    """
    data = await request_model(CreateTriggerRequest)
    tenant_id = tenant_scope()
    on = data.on
    command = CreateTrigger(
        tenant_id=tenant_id,
        name=data.name,
        kind=on.kind(),
        task=task_spec(data.task, deps().default_max_attempts),
        events=EventFilter(on.event_types, on.statuses, on.task_types),
        signal_name=on.signal,
    )
    try:
        created = await create_trigger(command, triggers=store())
    except InvalidTrigger as error:
        raise ProblemError(
            422,
            f"The trigger cannot work as given: {error}",
            slug="invalid-trigger",
            title="Invalid trigger",
            errors=[{"field": p.field, "message": p.message} for p in error.problems],
        ) from error
    headers = Headers({"Location": f"/api/v1/triggers/{created.id}"})
    return model_response(trigger_body(created), 201, headers)


@blueprint.get("/triggers")
@document_response(TriggerList, 200)
async def triggers_list() -> Response:
    """The tenant's triggers, by name."""
    found = await list_triggers(tenant_scope(), triggers=store())
    return model_response(TriggerList(items=[trigger_body(t) for t in found]), 200)


@blueprint.get("/triggers/<uuid:trigger_id>")
@document_response(TriggerBody, 200)
async def show_trigger(trigger_id: uuid.UUID) -> Response:
    """One trigger, with how often it fired and its last error."""
    found = await get_trigger(tenant_scope(), trigger_id, triggers=store())
    return model_response(trigger_body(found), 200)


@blueprint.post("/triggers/<uuid:trigger_id>/pause")
@document_response(TriggerBody, 200)
async def pause_trigger(trigger_id: uuid.UUID) -> Response:
    """Stop firing: events from now on start nothing (none is replayed on resume)."""
    found = await set_trigger_active(tenant_scope(), trigger_id, False, triggers=store())
    return model_response(trigger_body(found), 200)


@blueprint.post("/triggers/<uuid:trigger_id>/resume")
@document_response(TriggerBody, 200)
async def resume_trigger(trigger_id: uuid.UUID) -> Response:
    """Fire again, from the next event on."""
    found = await set_trigger_active(tenant_scope(), trigger_id, True, triggers=store())
    return model_response(trigger_body(found), 200)


@blueprint.delete("/triggers/<uuid:trigger_id>")
async def remove_trigger(trigger_id: uuid.UUID) -> Response:
    """Delete a trigger; the tasks it started stay as they are."""
    await delete_trigger(tenant_scope(), trigger_id, triggers=store())
    return Response(status=204)


def trigger_body(record: TriggerRecord) -> TriggerBody:
    events = record.events
    return TriggerBody.model_validate(
        {
            "id": record.id,
            "name": record.name,
            "on": {
                "kind": record.kind,
                "event_types": events.event_types,
                "statuses": events.statuses,
                "task_types": events.task_types,
                "signal": record.signal_name,
            },
            "task": dict(record.task),
            "active": record.active,
            "fired_count": record.fired_count,
            "last_fired_at": record.last_fired_at,
            "skipped_count": record.skipped_count,
            "last_error": record.last_error,
            "last_error_at": record.last_error_at,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
        }
    )
