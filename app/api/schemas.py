"""Request and response bodies of the REST API: camelCase JSON, enums spelled as in the seeds."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import (
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from app.api.input_types import (
    EARLIEST,
    MAX_AHEAD,
    IdempotencyKey,
    IsoTime,
    Output,
    QueryBool,
    QueryInt,
    RequestBody,
    SafeText,
    Schema,
    check_json_value,
    whole_number,
)
from app.api.wait_schemas import ApprovalBody, WaitForBody, WaitingForBody
from app.domain import waits
from app.domain.enums import AttemptStatus, CapabilityType, DomainType, ExecutionType, TaskStatus
from app.domain.retry import MAX_DELAY_SECONDS, RetryPolicy, policy_from_mapping

MAX_BATCH = 500
MAX_PAGE_SIZE = 200


class RetryPolicyBody(RequestBody):
    """Backoff for this task: wait baseSeconds * factor^(attempt-1), capped at maxSeconds."""

    base_seconds: float | None = Field(default=None, ge=0, le=MAX_DELAY_SECONDS)
    factor: float | None = Field(default=None, ge=1, le=100)
    max_seconds: float | None = Field(default=None, ge=0, le=MAX_DELAY_SECONDS)

    def as_mapping(self) -> dict[str, float]:
        return self.model_dump(by_alias=True, exclude_none=True)


TaskType = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$",
        description="Which handler runs the task, e.g. `summarise` or `demo.sleep`.",
        examples=["demo.sleep"],
    ),
]


class CreateTask(RequestBody):
    """A task to queue. `payload` carries the prompt and its context."""

    type: TaskType
    domain_type: DomainType | None = Field(default=None, strict=False)
    capability_type: CapabilityType | None = Field(default=None, strict=False)
    execution_type: ExecutionType = Field(default=ExecutionType.ASYNC, strict=False)
    priority: int = Field(default=5, ge=1, le=10, description="1 runs first.")
    payload: dict[str, Any] = Field(default_factory=dict, examples=[{"seconds": 1}])
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    scheduled_at: IsoTime | None = Field(
        default=None, description="Not before this time (ISO 8601 with offset)."
    )
    delay_seconds: float | None = Field(default=None, ge=0, le=MAX_AHEAD.total_seconds())
    timeout_seconds: int | None = Field(default=None, ge=1, le=86_400)
    retry_policy: RetryPolicyBody | None = None
    correlation_id: SafeText | None = Field(default=None, min_length=1, max_length=200)

    _whole_numbers = field_validator("priority", "max_attempts", "timeout_seconds", mode="before")(
        whole_number
    )

    @field_validator("payload")
    @classmethod
    def _storable_payload(cls, payload: dict[str, Any]) -> dict[str, Any]:
        check_json_value(payload)
        return payload

    @field_validator("scheduled_at")
    @classmethod
    def _sensible_time(cls, when: datetime | None) -> datetime | None:
        if when is None:
            return None
        try:
            when = when.astimezone(UTC)
        except OverflowError as error:
            raise ValueError("must be between 2000-01-01 and one year from now") from error
        if not EARLIEST <= when <= datetime.now(UTC) + MAX_AHEAD:
            raise ValueError("must be between 2000-01-01 and one year from now")
        return when

    @model_validator(mode="after")
    def _one_schedule(self) -> Self:
        if self.scheduled_at is not None and self.delay_seconds is not None:
            raise ValueError("give scheduledAt or delaySeconds, not both")
        if self.retry_policy is not None:
            policy_from_mapping(self.retry_policy.as_mapping(), RetryPolicy())
        return self

    def start_at(self) -> datetime | None:
        if self.delay_seconds is not None:
            return datetime.now(UTC) + timedelta(seconds=self.delay_seconds)
        return self.scheduled_at

    def fingerprint(self) -> str:
        """The request as the client sent it, for Idempotency-Key replays (so a replayed
        `delaySeconds` matches, and one instant written with two offsets too)."""
        body = self.model_dump_json(by_alias=True, exclude={"idempotency_key"})
        return hashlib.sha256(body.encode()).hexdigest()


class TaskRequest(CreateTask):
    """A task to queue (POST /api/v1/tasks), which may wait before it runs: for a
    person's approval (`executionType` HumanInLoop with an `approval` block) or for a
    signal (`waitFor`). One wait at creation: not both."""

    approval: ApprovalBody | None = Field(
        default=None,
        validate_default=True,
        description="Only with executionType HumanInLoop, which requires it: the task "
        "waits (status Created) for a decision (POST /api/v1/tasks/{id}/decision).",
    )
    wait_for: WaitForBody | None = Field(
        default=None,
        description="The task waits (status Created) for this signal before it starts. "
        "Not with an approval: one wait at creation.",
    )

    # Field validators (not a model validator), so that a 422 names the field.
    @field_validator("approval")
    @classmethod
    def _approval_for_people(
        cls, approval: ApprovalBody | None, info: ValidationInfo
    ) -> ApprovalBody | None:
        if "execution_type" not in info.data:
            return approval  # refused already
        human = info.data["execution_type"] is ExecutionType.HUMAN_IN_LOOP
        if approval is not None and not human:
            raise ValueError("only with executionType HumanInLoop")
        if human and approval is None:
            raise ValueError("required with executionType HumanInLoop")
        return approval

    @field_validator("wait_for")
    @classmethod
    def _one_wait(cls, wait_for: WaitForBody | None, info: ValidationInfo) -> WaitForBody | None:
        if wait_for is not None and info.data.get("approval") is not None:
            raise ValueError("not with an approval: a task waits for one thing at creation")
        return wait_for

    def wait(self) -> waits.WaitSpec | None:
        """What the task waits for before it runs, if anything."""
        if self.approval is not None:
            return self.approval.spec()
        if self.wait_for is not None:
            return self.wait_for.spec()
        return None


class BatchItem(TaskRequest):
    """One task of a batch, with its own idempotency key if wanted."""

    idempotency_key: IdempotencyKey | None = None


class CreateBatch(RequestBody):
    tasks: list[BatchItem] = Field(min_length=1, max_length=MAX_BATCH)

    @model_validator(mode="after")
    def _keys_once(self) -> Self:
        keys = [t.idempotency_key for t in self.tasks if t.idempotency_key is not None]
        if len(keys) != len(set(keys)):
            raise ValueError("each idempotencyKey may appear only once in a batch")
        return self


class TaskBody(Output):
    """A task as the API shows it: the same fields, filled the same way, from every
    endpoint that returns tasks (create, batch, list, get, cancel, requeue)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    type: str
    domain_type: DomainType | None
    capability_type: CapabilityType | None
    execution_type: ExecutionType
    priority: int
    status: TaskStatus
    progress: int = Field(description="0-100; 100 once the task has Succeeded, 0 after a requeue.")
    state: str | None = Field(
        description="What the handler last reported it is doing, while the task is Running; "
        "null in every other status (a waiting or finished task is doing nothing; the "
        "states it went through are in its events)."
    )
    metadata: dict[str, Any]
    attempt_count: int = Field(
        description="Attempts started so far, over the task's whole life: a requeue does "
        "not reset it, so attempt numbers stay unique."
    )
    max_attempts: int = Field(
        description="Attempts allowed in all. A requeue raises it by the attempts the task "
        "was given, so a requeued task gets that many fresh attempts."
    )
    last_error: str | None
    cancel_requested: bool
    correlation_id: str | None
    trace_id: str | None
    scheduled_at: datetime
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    payload: dict[str, Any] = Field(description="The task's input, as it was queued.")
    result: Any = Field(
        description="The handler's result (any JSON value) once the task has Succeeded; "
        "null before that, and when the handler returned nothing."
    )
    waiting_for: WaitingForBody | None = Field(
        default=None,
        description="While the task is parked (status Created) waiting for a decision, "
        "input or a signal: what it waits for, since when, and its deadline; else null.",
    )


class TaskList(Output):
    items: list[TaskBody]
    page: int
    page_size: int
    total: int


class BatchResult(Output):
    tasks: list[TaskBody]


class CancelResult(Output):
    task: TaskBody
    outcome: str = Field(description="`cancelled` (done now) or `requested` (its worker stops it).")


class AttemptBody(Output):
    id: int
    attempt_no: int
    worker_id: str
    status: AttemptStatus
    started_at: datetime
    ended_at: datetime | None
    model: str | None
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    latency_ms: int | None
    error_code: str | None
    error_detail: str | None


class AttemptList(Output):
    items: list[AttemptBody]


class ArtifactBody(Output):
    id: uuid.UUID
    kind: str
    name: str | None
    content_type: str
    size_bytes: int | None
    # Where the artifact is kept: an http(s) link, or the store's own URI
    # (artifact://…), which only this API can open; fetch content_url instead.
    uri: str | None
    # This API's address for the content, whatever the artifact is stored in.
    content_url: str
    created_at: datetime


class ArtifactList(Output):
    items: list[ArtifactBody]


class EventBody(Output):
    id: int
    task_id: uuid.UUID
    sequence: int
    event_type: str
    status: TaskStatus
    occurred_at: datetime
    trace_id: str | None
    detail: dict[str, Any]


class EventList(Output):
    items: list[EventBody]


class TaskListQuery(Schema):
    """Filters and paging of GET /api/v1/tasks."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    status: TaskStatus | None = None
    type: TaskType | None = None
    domain_type: DomainType | None = None
    capability_type: CapabilityType | None = None
    waiting_for: Literal["decision", "signal", "any"] | None = Field(
        default=None,
        description="Only tasks parked waiting for people (decision: an approval or "
        "input), for a signal, or for any of these; listed the longest waiting first.",
    )
    page: QueryInt = Field(default=1, ge=1, le=1_000_000)
    page_size: QueryInt = Field(default=20, ge=1, le=MAX_PAGE_SIZE)


class FieldError(Output):
    field: str
    message: str


class Problem(Schema):
    """RFC 9457 problem details."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None
    trace_id: str | None
    errors: list[FieldError] | None = None


class StatsQuery(Schema):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    all_tenants: QueryBool = False


class QueueStats(Output):
    """Seed 003's queue statistics."""

    scope: str = Field(description="The tenant id, or `all`.")
    waiting: int
    scheduled: int
    running: int
    succeeded: int
    failed: int
    dead_lettered: int
    cancelled: int
    oldest_waiting_seconds: float
    finished_last_minute: int
    finished_last_5_minutes: int
    finished_last_15_minutes: int
