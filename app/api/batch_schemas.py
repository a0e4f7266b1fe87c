"""Bodies of /api/v1/batches."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from app.api.input_types import Output, QueryInt, RequestBody, Schema
from app.api.schemas import CreateTask, TaskBody
from app.domain.dependencies import MAX_BATCH_CHILDREN, FailurePolicy
from app.domain.enums import TaskStatus

MAX_CHILD_PAGE = 500


class CreateBatchRequest(RequestBody):
    """A batch: its tasks (1 to 10 000, created in one transaction), an optional
    `onComplete` task queued once when every task has ended (with their outcome summary
    and result references in its payload's `batch`), and what a dead-lettered task does
    to the rest (`failFast` cancels those still waiting)."""

    tasks: list[CreateTask] = Field(min_length=1, max_length=MAX_BATCH_CHILDREN)
    on_complete: CreateTask | None = None
    failure_policy: FailurePolicy = Field(default=FailurePolicy.CONTINUE, strict=False)
    priority: int = Field(default=5, ge=1, le=10, description="The callback's default.")
    correlation_id: str | None = Field(default=None, max_length=200)

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
