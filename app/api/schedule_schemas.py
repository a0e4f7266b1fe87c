"""Bodies of /api/v1/schedules. A schedule's task is a task as POST /api/v1/tasks takes
it (the same model, so the same checks), less a start time: each tick is its start."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic.alias_generators import to_camel

from app.api.input_types import Output, QueryInt, RequestBody, Schema
from app.api.schemas import TaskRequest
from app.domain.schedules import (
    MAX_CRON_LENGTH,
    MAX_TIMEZONE_LENGTH,
    NEXT_RUNS_SHOWN,
    MissedPolicy,
    check_cron,
    check_timezone,
    zone_names,
)

MAX_SCHEDULE_PAGE = 200

ScheduleName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"),
    Field(description="Unique per tenant.", examples=["nightly-report"]),
]
CRON_DESCRIPTION = (
    "A cron expression: 5 fields one space apart (minute hour day-of-month month "
    "day-of-week), or 6 with seconds last (`* * * * * */2`: every 2 seconds); aliases such "
    "as `@hourly` too. "
    "Read in `timezone`; an expression that never fires is a 422."
)
CRON_FIELD = "[0-9A-Za-z*/,?#-]+"
CRON_SHAPE = f"^(@[a-z]+|{CRON_FIELD}( {CRON_FIELD}){{4,5}})$"
ZONES: dict[str, Any] = {"enum": zone_names()}
TASK_EXAMPLE: dict[str, Any] = {"type": "demo.sleep", "payload": {"seconds": 1}, "priority": 5}


NOT_IN_A_SCHEDULE = ("scheduledAt", "delaySeconds", "approval", "waitFor")


def _not_in_a_schedule(schema: dict[str, Any]) -> None:
    # Not part of a schedule's task: sent anyway, they are a 422 (see _no_start_or_wait).
    for name in NOT_IN_A_SCHEDULE:
        schema.get("properties", {}).pop(name, None)


class ScheduleTask(TaskRequest):
    """The task each tick starts: the body of POST /api/v1/tasks without `scheduledAt`
    or `delaySeconds` (its start is the tick), and without a wait (`approval`,
    `waitFor`: not for scheduled tasks yet)."""

    model_config = ConfigDict(json_schema_extra=_not_in_a_schedule)

    @model_validator(mode="after")
    def _no_start_or_wait(self) -> Self:
        if self.scheduled_at is not None or self.delay_seconds is not None:
            raise ValueError(
                "a schedule's task starts at its ticks: no scheduledAt or delaySeconds"
            )
        if self.approval is not None or self.wait_for is not None:
            raise ValueError("a schedule's task cannot wait (approval, waitFor) yet")
        return self


class CreateScheduleRequest(RequestBody):
    """A schedule: `task` starts at every tick of `cron` in `timezone`, one task per
    tick however many workers run."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "nightly-report",
                    "cron": "0 2 * * *",
                    "timezone": "Europe/Berlin",
                    "task": TASK_EXAMPLE,
                    "missed": "runOnce",
                }
            ]
        }
    )

    name: ScheduleName
    cron: str = Field(
        min_length=1,
        max_length=MAX_CRON_LENGTH,
        description=CRON_DESCRIPTION,
        examples=["0 2 * * *", "*/15 * * * *"],
        # The shape (5 or 6 fields of cron's characters, one space apart, or an @alias):
        # croniter decides the rest (a 422 naming `cron` otherwise).
        pattern=CRON_SHAPE,
    )
    timezone: str = Field(
        default="UTC",
        min_length=1,
        max_length=MAX_TIMEZONE_LENGTH,
        description="An IANA time zone name: the cron expression is read in it.",
        examples=["Europe/Berlin"],
        json_schema_extra=ZONES,
    )
    task: ScheduleTask
    missed: MissedPolicy = Field(
        default=MissedPolicy.SKIP,
        strict=False,
        description="Ticks missed while nothing ran (older than the catch-up window, a "
        "minute by default): `skip` starts none of them; `runOnce` starts one, for the "
        "newest. Ticks later only by a leader change are always started.",
    )
    paused: bool = Field(default=False, description="Create it paused.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, cron: str) -> str:
        return check_cron(cron)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, name: str) -> str:
        check_timezone(name)
        return name


class ScheduleBody(Output):
    """A schedule, with its next ticks."""

    id: uuid.UUID
    name: str
    cron: str
    timezone: str
    task: dict[str, Any] = Field(
        description="The task each tick starts (its `maxAttempts` resolved).",
        examples=[{**TASK_EXAMPLE, "maxAttempts": 3, "executionType": "Async"}],
    )
    missed: MissedPolicy
    paused: bool
    source: Literal["api", "code"] = Field(
        description="`code`: declared with HandlerRegistry.schedule and kept in sync by "
        "the workers; only pause and resume apply to it here (409 otherwise)."
    )
    retired_at: datetime | None = Field(
        description="A code schedule its code no longer declares: paused since then; "
        "delete it (or declare it again)."
    )
    next_run_at: datetime | None = Field(description="The next tick; null while paused.")
    next_runs: list[datetime] = Field(
        description=f"The next {NEXT_RUNS_SHOWN} ticks in the schedule's time zone (ISO 8601 "
        "with its offset); empty while paused.",
        examples=[["2025-03-29T02:00:00+01:00", "2025-03-30T03:00:00+02:00"]],
    )
    last_tick_at: datetime | None = Field(description="The newest tick that started a task.")
    created_at: datetime
    updated_at: datetime


class ScheduleList(Output):
    items: list[ScheduleBody]
    next_after: str | None = Field(description="Pass as `after` for the next page.")


class ScheduleListQuery(Schema):
    """Paging of GET /api/v1/schedules, by name: `after` the last name of a page."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    after: ScheduleName | None = None
    page_size: QueryInt = Field(default=50, ge=1, le=MAX_SCHEDULE_PAGE)


def code_schedule_task(task: Mapping[str, Any]) -> ScheduleTask:
    """A task declared in code (HandlerRegistry.schedule), checked as the API checks
    one: ValueError names what is wrong."""
    return ScheduleTask.model_validate(dict(task))
