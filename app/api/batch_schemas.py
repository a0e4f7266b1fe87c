"""Bodies of /api/v1/batches."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic.alias_generators import to_camel

from app.api.input_types import Output, QueryInt, RequestBody, Schema, whole_number
from app.api.schemas import CreateTask, TaskBody
from app.domain.dependencies import MAX_BATCH_CHILDREN, FailurePolicy, dependency_error
from app.domain.enums import TaskStatus

MAX_CHILD_PAGE = 500


StepName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")]


class BatchTask(CreateTask):
    """One task of a batch; `name` it to let other tasks of the batch depend on it."""

    name: StepName | None = None
    depends_on: list[StepName] = Field(
        default_factory=list,
        max_length=100,
        description="Names of tasks of this batch that must succeed first; the task is "
        "held until then, and cancelled if one of them does not succeed.",
    )


class CreateBatchRequest(RequestBody):
    """A batch: its tasks (1 to 10 000, created in one transaction), an optional
    `onComplete` task queued once when every task has ended (with their outcome summary
    and result references in its payload's `batch`), and what a dead-lettered task does
    to the rest (`failFast` cancels those still waiting)."""

    tasks: list[BatchTask] = Field(min_length=1, max_length=MAX_BATCH_CHILDREN)
    on_complete: CreateTask | None = None
    failure_policy: FailurePolicy = Field(default=FailurePolicy.CONTINUE, strict=False)
    priority: int = Field(default=5, ge=1, le=10, description="The callback's default.")
    _whole_numbers = field_validator("priority", mode="before")(whole_number)
    correlation_id: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _dependencies_form_a_dag(self) -> Self:
        self.dependency_indexes()
        return self

    def dependency_indexes(self) -> dict[int, list[int]]:
        """dependsOn as task indexes; a ValueError (a 422) unless it is a DAG of names
        given once each."""
        names: dict[str, int] = {}
        for index, task in enumerate(self.tasks):
            if task.name is not None:
                if task.name in names:
                    raise ValueError(f"task name {task.name!r} is given twice")
                names[task.name] = index
        depends_on: dict[int, list[int]] = {}
        for index, task in enumerate(self.tasks):
            unknown = [n for n in task.depends_on if n not in names]
            if unknown:
                raise ValueError(
                    f"tasks[{index}].dependsOn names no task of the batch: {unknown[0]!r}"
                )
            if task.depends_on:
                depends_on[index] = [names[n] for n in task.depends_on]
        problem = dependency_error(len(self.tasks), depends_on)
        if problem is not None:
            raise ValueError(problem)
        return depends_on

    def fingerprint(self) -> str:
        """The request as sent, for Idempotency-Key replays."""
        return hashlib.sha256(self.model_dump_json(by_alias=True).encode()).hexdigest()


class BatchCounts(Output):
    total: int
    done: int
    remaining: int
    succeeded: int
    dead_lettered: int
    cancelled: int
    by_status: dict[str, int] = Field(description="Children in each status right now.")


class BatchBody(Output):
    """A batch: its status (Created while children run; then Succeeded, DeadLetter or
    Cancelled), progress, counts, and its callback task."""

    id: uuid.UUID
    status: TaskStatus
    failure_policy: FailurePolicy
    progress: float = Field(description="Children ended / total, 0 to 1.")
    counts: BatchCounts
    generation: int = Field(description="Bumped when a requeued child reopens the batch.")
    callback_task_id: uuid.UUID | None
    callback_task: TaskBody | None = None
    created_at: datetime
    completed_at: datetime | None
    cancel_requested: bool
    children_url: str


class ChildList(Output):
    items: list[TaskBody]
    next_after: uuid.UUID | None = Field(description="Pass as `after` for the next page.")


class ChildListQuery(Schema):
    """Paging of a batch's children: `after` the last id of the previous page."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    after: uuid.UUID | None = None
    page_size: QueryInt = Field(default=100, ge=1, le=MAX_CHILD_PAGE)
