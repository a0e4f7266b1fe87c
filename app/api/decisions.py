"""POST /api/v1/tasks/{id}/decision: a person's decision on a task waiting for one.

The task is parked (Created, no lease) until then: an approval before it runs
(executionType HumanInLoop), or input its handler asked for (`ctx.request_input`).
docs/design/waits.md.
"""

from __future__ import annotations

import uuid

from quart import Blueprint, Response
from quart_schema import document_request, document_response

from app.api.auth import principal, require_api_key, tenant_scope
from app.api.bodies import json_bodies_only, model_response, request_model
from app.api.decision_schemas import DecisionRequest, DecisionResult
from app.api.problems import ProblemError
from app.api.representation import rendered
from app.api.tasks import load_task, waits_store
from app.application.decisions import DecideTask, InputMismatch, decide_task

blueprint = Blueprint("decisions", __name__, url_prefix="/api/v1")
blueprint.before_request(require_api_key)
blueprint.before_request(json_bodies_only)


@blueprint.post("/tasks/<uuid:task_id>/decision")
@document_request(DecisionRequest)
@document_response(DecisionResult, 200)
async def decide(task_id: uuid.UUID) -> Response:
    """Decide on a task waiting for a person: approve or reject, with optional input and
    comment. Answered 200 with the task as it is after the decision: Queued (it runs, or
    its handler runs again with the answer) or Cancelled (an approval rejected).

    `input` must match the JSON Schema the question declared: a 422 lists each error's
    path (`input.amount`) and nothing changes. The API key's id and `decidedBy` are
    recorded, and shown in the task's events (TaskDecided). A task that does not wait
    for a decision (queued, running, finished, cancelled, waiting for a signal, or
    decided already) is a 409.
    """
    data = await request_model(DecisionRequest)
    command = DecideTask(
        tenant_id=tenant_scope(),
        task_id=task_id,
        decision=data.decision,
        api_key_id=principal().key_id,
        comment=data.comment,
        input=data.input,
        decided_by=data.decided_by,
    )
    try:
        decided = await decide_task(command, waits=waits_store())
    except InputMismatch as mismatch:
        raise ProblemError(
            422,
            "The input does not match the schema declared for this decision; see errors.",
            slug="input-does-not-match",
            title="Input does not match the schema",
            errors=[{"field": path, "message": message} for path, message in mismatch.errors],
        ) from None
    body = DecisionResult.model_validate(
        {
            "task": await rendered(await load_task(task_id)),
            "decision": {
                "kind": decided.kind,
                "wait_key": decided.wait_key,
                "decision": data.decision,
                "decided_by": data.decided_by,
                "api_key_id": command.api_key_id,
            },
        }
    )
    return model_response(body, 200)
