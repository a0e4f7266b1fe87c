"""Bodies of POST /api/v1/tasks/{id}/decision."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field, field_validator

from app.api.input_types import Output, RequestBody, SafeText, check_json_value
from app.api.schemas import TaskBody
from app.domain import waits


class DecisionRequest(RequestBody):
    """A person's decision on a task waiting for one (an approval, or input its handler
    asked for)."""

    decision: Literal["approve", "reject"] = Field(
        description="approve: the task runs (again, with the answer, if its handler "
        "asked). reject: an approval's task is Cancelled; a handler that asked runs "
        "again and sees the rejection."
    )
    comment: SafeText | None = Field(default=None, min_length=1, max_length=waits.MAX_QUESTION)
    input: Any = Field(
        default=None,
        description="Any JSON value; it must match the schema the question declared "
        "(required by an approval when a schema was declared; checked whenever sent).",
        examples=[{"amount": 120}],
    )
    decided_by: SafeText | None = Field(
        default=None,
        min_length=1,
        max_length=waits.MAX_KEY,
        description="Who decided, as you name them; the API key that sent the decision "
        "is recorded as well.",
        examples=["ana@example.com"],
    )

    @field_validator("input")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        check_json_value(value)
        return value


class DecisionBody(Output):
    """The decision as recorded."""

    kind: Literal["approval", "input"] = Field(
        description="What was decided: an approval before the task ran, or input its "
        "handler asked for."
    )
    wait_key: str
    decision: Literal["approve", "reject"]
    decided_by: str | None
    api_key_id: uuid.UUID | None


class DecisionResult(Output):
    """The task after the decision (Queued, or Cancelled when an approval was rejected)."""

    task: TaskBody
    decision: DecisionBody
