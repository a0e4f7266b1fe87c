"""Bodies of /api/v1/sagas."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import Field, StringConstraints, field_validator, model_validator

from app.api.input_types import Output, RequestBody, whole_number
from app.api.schemas import CreateTask
from app.domain.enums import TaskStatus
from app.domain.sagas import MAX_SAGA_STEPS, SagaPhase, saga_error

# A step's name starts with a letter: positions (0, 1, …) name steps too.
StepName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.:-]{0,99}$")]


class SagaStepSpec(CreateTask):
    """One step of a saga: a task, and optionally the task that undoes it.

    Its payload may use an earlier step's result: `{"$fromStep": "reserve", "path":
    "orderId"}` (a step's `name` or its position, 0-based; `path` optional, dotted) is
    replaced by that value when the step is released. A compensation's payload may refer
    to its own step and those before it."""

    name: StepName | None = None
    compensation: CreateTask | None = Field(
        default=None,
        description="Run, as a task with its own retries, if a later step fails or the "
        "saga is cancelled after this step succeeded.",
    )


class CreateSagaRequest(RequestBody):
    """A saga: steps run one after another, each once the one before it succeeded. When
    a step is dead-lettered or cancelled, the compensations of the steps that succeeded
    run newest first, and the saga ends DeadLetter (Cancelled if it was cancelled) with
    `outcome` compensated or compensation_failed."""

    steps: list[SagaStepSpec] = Field(min_length=1, max_length=MAX_SAGA_STEPS)
    compensate_failed_step: bool = Field(
        default=True,
        description="Also compensate the step that failed, if it ran at least once.",
    )
    priority: int = Field(default=5, ge=1, le=10)
    _whole_numbers = field_validator("priority", mode="before")(whole_number)
    correlation_id: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _steps_can_run(self) -> Self:
        problem = saga_error(
            [s.name for s in self.steps],
            [s.payload for s in self.steps],
            [s.compensation.payload if s.compensation else None for s in self.steps],
        )
        if problem is not None:
            raise ValueError(problem)
        return self

    def fingerprint(self) -> str:
        """The request as sent, for Idempotency-Key replays."""
        return hashlib.sha256(self.model_dump_json(by_alias=True).encode()).hexdigest()


class SagaStepBody(Output):
    """A step and its compensation: their tasks and statuses (`compensationStatus` is
    null until the compensation is queued, and stays null if it never needs to run)."""

    position: int
    name: str | None
    task_id: uuid.UUID
    type: str
    status: TaskStatus
    attempts: int
    last_error: str | None
    compensation_type: str | None
    compensation_task_id: uuid.UUID | None
    compensation_status: TaskStatus | None
    compensation_attempts: int | None
    compensation_error: str | None
    compensation_order: int | None = Field(
        description="0 for the compensation that runs first (the newest step's)."
    )


class SagaTimelineEntry(Output):
    task_id: uuid.UUID
    event_type: str
    status: TaskStatus
    occurred_at: datetime
    detail: dict[str, Any]


class SagaBody(Output):
    """A saga: status (Created while it runs or compensates; then Succeeded, DeadLetter or
    Cancelled), phase, which step and which compensation failed, its steps and timeline."""

    id: uuid.UUID
    status: TaskStatus
    phase: SagaPhase
    outcome: str | None = Field(
        description="completed, compensated or compensation_failed once the saga ended."
    )
    failed_step: int | None
    failed_compensation_step: int | None
    compensate_failed_step: bool
    cancel_requested: bool
    created_at: datetime
    completed_at: datetime | None
    steps: list[SagaStepBody]
    timeline: list[SagaTimelineEntry]
