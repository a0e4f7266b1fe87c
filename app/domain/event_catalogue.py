"""The catalogue of task events integrators receive: fields of each, as JSON Schema.

The outbox trigger (sql/migrations/0002_outbox.sql) builds the messages; these
models describe them, and a test checks real messages against them.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from app.domain.enums import AttemptStatus, TaskStatus
from app.domain.events import (
    ALL_EVENT_TYPES,
    AnyEventType,
    BatchEventType,
    EventType,
    SagaEventType,
)


class TaskEventBase(BaseModel):
    """Fields every task event carries. No payload text or prompt, ever."""

    model_config = ConfigDict(extra="forbid")

    eventId: uuid.UUID = Field(description="Stable across re-deliveries: dedupe on it.")
    eventType: str
    occurredAt: datetime
    tenantId: uuid.UUID
    taskId: uuid.UUID
    sequence: int = Field(ge=1, description="Orders one task's events.")
    traceId: str | None = Field(description="W3C trace id of the request that queued the task.")
    status: TaskStatus = Field(description="The task's status after this event.")
    type: str = Field(description="The task's type (which handler runs it).")
    attempt: int = Field(
        ge=0,
        description=(
            "The task's attempt number: attempts started over its whole life "
            "(a requeue continues the count)."
        ),
    )
    correlationId: str | None


class ScheduleTick(BaseModel):
    """The schedule tick that started a task."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(description="The schedule (GET /api/v1/schedules/{id}).")
    tick: datetime = Field(description="The tick, in the schedule's time zone.")


class TriggerOrigin(BaseModel):
    """Why a task was started by a trigger (docs/design/triggers.md): the trigger, and
    the event (sourceTaskId, sourceEventId) or signal (signalId, signalName) that fired
    it; depth counts the triggers that led to it (at most 8)."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(description="The trigger.")
    depth: int = Field(ge=1, le=8)
    sourceTaskId: uuid.UUID | None = None
    sourceEventId: int | None = Field(default=None, description="The event's timeline id.")
    rootTaskId: uuid.UUID | None = Field(
        default=None,
        description="The task whose event began this chain of triggers (at most 1000 tasks "
        "per chain).",
    )
    signalId: uuid.UUID | None = None
    signalName: str | None = None


# What each event adds to the common fields.
DETAILS: dict[AnyEventType, dict[str, Any]] = {
    EventType.QUEUED: {
        "scheduledAt": (datetime, ...),
        "priority": (int, ...),
        "schedule": (ScheduleTick | None, None),
        "trigger": (TriggerOrigin | None, None),
    },
    EventType.RUNNING: {"attemptNo": (int, ...), "workerId": (str, ...)},
    EventType.PROGRESSED: {"progress": (int, ...), "state": (str | None, None)},
    EventType.SUCCEEDED: {"attemptStatus": (AttemptStatus, ...)},
    EventType.FAILED: {
        "attemptStatus": (AttemptStatus, ...),
        "retryAt": (datetime | None, None),
        "errorCode": (str | None, None),
        "workerId": (str | None, None),
    },
    EventType.DEAD_LETTERED: {
        "attemptStatus": (AttemptStatus, ...),
        "errorCode": (str | None, None),
        "workerId": (str | None, None),
    },
    EventType.CANCEL_REQUESTED: {},
    EventType.CANCELLED: {
        "attemptStatus": (AttemptStatus | None, None),
        "errorCode": (str | None, None),
        "workerId": (str | None, None),
    },
    EventType.RELEASED: {"attemptStatus": (AttemptStatus, ...)},
    EventType.REQUEUED: {"requestedBy": (str, ...)},
    EventType.AWAITING_INPUT: {
        "kind": (Literal["approval", "input"], ...),
        "waitKey": (str, ...),
        "question": (str, ...),
        "deadline": (datetime | None, None),
        "attemptStatus": (AttemptStatus | None, None),
    },
    EventType.AWAITING_SIGNAL: {
        "kind": (Literal["signal"], ...),
        "waitKey": (str, ...),
        "signal": (str, ...),
        "key": (str, ...),
        "deadline": (datetime | None, None),
        "attemptStatus": (AttemptStatus | None, None),
    },
    EventType.DECIDED: {
        "kind": (Literal["approval", "input"], ...),
        "waitKey": (str, ...),
        "decision": (Literal["approve", "reject"], ...),
        "decidedBy": (str | None, None),
        "apiKeyId": (uuid.UUID | None, None),
    },
    EventType.SIGNALLED: {
        "kind": (Literal["signal"], ...),
        "waitKey": (str, ...),
        "signal": (str, ...),
        "key": (str, ...),
        "signalId": (uuid.UUID, ...),
        "receivedAt": (datetime, ...),
    },
    EventType.WAIT_TIMED_OUT: {
        "kind": (Literal["approval", "input", "signal"], ...),
        "waitKey": (str, ...),
        "onDeadline": (
            Literal["approve", "reject", "deadLetter", "resume", "run", "cancel"],
            ...,
        ),
        "deadline": (datetime, ...),
    },
    BatchEventType.CREATED: {"total": (int, ...), "failurePolicy": (str, ...)},
    BatchEventType.PROGRESSED: {
        "total": (int, ...),
        "done": (int, ...),
        "succeeded": (int, ...),
        "deadLettered": (int, ...),
        "cancelled": (int, ...),
    },
    BatchEventType.COMPLETED: {
        "generation": (int, ...),
        "total": (int, ...),
        "succeeded": (int, ...),
        "deadLettered": (int, ...),
        "cancelled": (int, ...),
        "callbackTaskId": (uuid.UUID | None, None),
    },
    BatchEventType.REOPENED: {"generation": (int, ...), "total": (int, ...), "done": (int, ...)},
    SagaEventType.STARTED: {"steps": (int, ...)},
    SagaEventType.STEP_RELEASED: {
        "step": (int, ...),
        "name": (str | None, None),
        "role": (Literal["step", "compensation"], ...),
        "taskId": (uuid.UUID, ...),
    },
    SagaEventType.COMPENSATING: {
        "failedStep": (int | None, None),
        "compensations": (int, ...),
        "cause": (Literal["stepFailed", "cancelled"], ...),
    },
    SagaEventType.COMPLETED: {
        "outcome": (Literal["completed", "compensated", "compensation_failed"], ...),
        "failedStep": (int | None, None),
        "failedCompensationStep": (int | None, None),
    },
}

DESCRIPTIONS: dict[AnyEventType, str] = {
    EventType.QUEUED: (
        "A task was accepted and waits for a worker (seed 000's TaskQueued); `schedule` "
        "names the schedule and tick that started it, `trigger` the trigger, if one did."
    ),
    EventType.RUNNING: "A worker started the task's handler (a new attempt).",
    EventType.PROGRESSED: "The running task reported progress (at most about once a second).",
    EventType.SUCCEEDED: "The task finished; fetch its result through the API.",
    EventType.FAILED: "An attempt failed; the task retries at retryAt.",
    EventType.DEAD_LETTERED: (
        "Retries exhausted or a non-recoverable error; an operator may requeue it."
    ),
    EventType.CANCEL_REQUESTED: "A cancel was asked for the running task; its worker stops it.",
    EventType.CANCELLED: "The task was cancelled and will not run again.",
    EventType.RELEASED: "A stopping worker handed the task back; it runs again elsewhere.",
    EventType.REQUEUED: "An operator put a dead-lettered or failed task back in the queue.",
    EventType.AWAITING_INPUT: (
        "The task waits for a person: an approval before it runs (kind approval) or input "
        "its handler asked for (kind input). Carries the question and the deadline, never "
        "the payload. It holds no lease while it waits."
    ),
    EventType.AWAITING_SIGNAL: (
        "The task waits for the signal (signal, key), before it runs or because its handler "
        "asked; it holds no lease while it waits."
    ),
    EventType.DECIDED: (
        "A person decided (POST /api/v1/tasks/{id}/decision): status Queued (it runs, again "
        "if its handler asked) or Cancelled (an approval rejected). The input is not in it."
    ),
    EventType.SIGNALLED: (
        "The signal it waited for arrived (or had arrived within its window): status Queued."
    ),
    EventType.WAIT_TIMED_OUT: (
        "The wait's deadline passed with no answer; onDeadline says what happened: Queued "
        "(approve, resume, run), Cancelled (reject, cancel) or DeadLetter."
    ),
    BatchEventType.CREATED: (
        "A batch and its children were created; it waits (status Created) for its children."
    ),
    BatchEventType.PROGRESSED: (
        "Children of the batch ended (at most one event a second per batch)."
    ),
    BatchEventType.COMPLETED: (
        "The batch's last child ended: status Succeeded (all succeeded), DeadLetter (some "
        "were dead-lettered) or Cancelled; callbackTaskId is its onComplete task, queued once."
    ),
    BatchEventType.REOPENED: (
        "A dead-lettered child was requeued: the batch waits again, as a new generation."
    ),
    SagaEventType.STARTED: (
        "A saga and its steps were created; its first step is queued, the others held."
    ),
    SagaEventType.STEP_RELEASED: (
        "A step was released (the one before it succeeded; its references filled in), or, "
        "with role compensation, a compensation was queued (newest step first)."
    ),
    SagaEventType.COMPENSATING: (
        "A step did not succeed (or the saga was cancelled): the compensations of the steps "
        "that succeeded run now, newest first."
    ),
    SagaEventType.COMPLETED: (
        "The saga ended: Succeeded (outcome completed), or DeadLetter / Cancelled with "
        "outcome compensated or compensation_failed (failedCompensationStep names it)."
    ),
}

_WORD = re.compile(r"(?<!^)(?=[A-Z])")


def routing_key(event_type: str) -> str:
    """TaskQueued -> task.queued, TaskDeadLettered -> task.dead_lettered,
    BatchCompleted -> task.batch_completed (under task.#, with every task event)."""
    name = event_type.removeprefix("Task") or "event"
    return "task." + _WORD.sub("_", name).lower()


def event_model(event_type: AnyEventType) -> type[TaskEventBase]:
    """The pydantic model of one event type."""
    fields: dict[str, Any] = {"eventType": (Literal[event_type.value], ...)}
    fields.update(DETAILS[event_type])
    return create_model(
        event_type.value, __base__=TaskEventBase, __doc__=DESCRIPTIONS[event_type], **fields
    )


MODELS: dict[AnyEventType, type[TaskEventBase]] = {e: event_model(e) for e in ALL_EVENT_TYPES}


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every event, by event type."""
    return {e.value: MODELS[e].model_json_schema() for e in ALL_EVENT_TYPES}
