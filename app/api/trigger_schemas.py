"""Bodies of /api/v1/triggers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import Field, StringConstraints, field_validator, model_validator

from app.api.input_types import Output, RequestBody, SafeText
from app.api.schemas import CreateTask, TaskType
from app.domain.enums import ExecutionType, TaskStatus
from app.domain.events import ALL_EVENT_TYPES
from app.domain.triggers import TriggerKind

TriggerName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"),
    Field(description="Unique among the tenant's triggers.", examples=["summarize-after-ocr"]),
]
EventTypeName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z][A-Za-z]{1,99}$"),
    Field(
        description="An event type of docs/events.md.",
        examples=["TaskSucceeded"],
        json_schema_extra={"enum": sorted(e.value for e in ALL_EVENT_TYPES)},
    ),
]
SignalName = Annotated[SafeText, StringConstraints(min_length=1, max_length=200)]
TRIGGERED_EXECUTION_TYPES = (ExecutionType.ASYNC, ExecutionType.EVENT_DRIVEN)

TEMPLATE_HELP = (
    'The payload is a template: an object `{"$from": "<path>"}` anywhere in it is '
    "replaced, when the trigger fires, by the value at that dotted path (null when there "
    "is none; a number steps into an array). Roots of an event trigger: `event` (id, "
    "taskId, type, status, taskType, sequence, detail, occurredAt), `task` (the event's "
    "task: id, type, payload, correlationId, traceId) and `result` (that task's result, "
    "when the event is its success). Root of a signal trigger: `signal` (id, name, key, "
    "data). A path that cannot exist is a 422 naming it. Nothing is evaluated."
)


class TriggerTask(CreateTask):
    """The task a trigger starts: what POST /api/v1/tasks takes, its payload a template.
    It runs `delaySeconds` after the firing (no `scheduledAt`); without a
    `correlationId` it takes its source task's, and it joins that task's trace."""

    payload: dict[str, Any] = Field(
        default_factory=dict,
        description=TEMPLATE_HELP,
        examples=[{"text": {"$from": "result.text"}, "document": {"$from": "event.taskId"}}],
    )
    scheduled_at: None = Field(
        default=None, description="Not for a trigger's task: use delaySeconds."
    )

    @field_validator("execution_type")
    @classmethod
    def _plain_task(cls, value: ExecutionType) -> ExecutionType:
        if value not in TRIGGERED_EXECUTION_TYPES:
            raise ValueError("a trigger starts an Async or EventDriven task")
        return value


class TriggerOn(RequestBody):
    """What fires the trigger: task events (each filter given must match; at least one
    filter), or a signal by name."""

    event_types: list[EventTypeName] | None = Field(default=None, min_length=1, max_length=50)
    statuses: list[Annotated[TaskStatus, Field(strict=False)]] | None = Field(
        default=None, min_length=1, max_length=8
    )
    task_types: list[TaskType] | None = Field(default=None, min_length=1, max_length=50)
    signal: SignalName | None = Field(
        default=None, description="A signal's name (POST /api/v1/signals)."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if self.signal is not None and self.has_event_filter():
            raise ValueError("give a signal, or event filters, not both")
        return self

    def has_event_filter(self) -> bool:
        return any(f is not None for f in (self.event_types, self.statuses, self.task_types))

    def kind(self) -> TriggerKind:
        return TriggerKind.SIGNAL if self.signal is not None else TriggerKind.EVENT


class CreateTriggerRequest(RequestBody):
    """When an event happens, start a task: in the transaction that wrote the event, once
    per event (the task's id is derived from the trigger and the event). A chain of
    triggers (A's event starts B, B's starts C …) stops at depth 8: the ninth task is not
    started, and the trigger counts it in `skippedCount`."""

    name: TriggerName
    on: TriggerOn
    task: TriggerTask


class TriggerOnBody(Output):
    kind: TriggerKind
    event_types: list[str] | None
    statuses: list[TaskStatus] | None
    task_types: list[str] | None
    signal: str | None


class TriggerBody(Output):
    """A trigger: what it waits for, the task it starts, whether it is active, and how
    often it fired (`skippedCount`: firings that started nothing, `lastError` says why:
    the depth limit, or a task that could not be stored)."""

    id: uuid.UUID
    name: str
    on: TriggerOnBody
    task: dict[str, Any]
    active: bool
    fired_count: int
    last_fired_at: datetime | None
    skipped_count: int
    last_error: str | None
    last_error_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TriggerList(Output):
    items: list[TriggerBody]
