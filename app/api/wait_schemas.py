"""Bodies of tasks that wait at creation (an approval, a signal) and of what a parked
task shows it waits for. docs/design/waits.md."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from app.api.input_types import Output, RequestBody, SafeText, check_json_value
from app.domain import waits

MAX_WAIT_SECONDS = waits.MAX_WAIT_SECONDS
WaitSeconds = Field(
    default=None,
    ge=1,
    le=MAX_WAIT_SECONDS,
    description=f"1 to {MAX_WAIT_SECONDS} seconds (366 days).",
)


class ApprovalBody(RequestBody):
    """A decision a person makes before the task is released to workers."""

    question: SafeText = Field(
        min_length=1,
        max_length=waits.MAX_QUESTION,
        description="What the person is asked; shown in events and listings (never the payload).",
        examples=["Refund 120 EUR to order 7?"],
    )
    input_schema: dict[str, Any] | None = Field(
        default=None,
        alias="schema",
        description="A JSON Schema (2020-12) the decision's `input` must match.",
        examples=[{"type": "object", "required": ["amount"]}],
    )
    deadline_seconds: float | None = WaitSeconds
    on_deadline: Literal["reject", "approve", "deadLetter"] = Field(
        default="reject",
        description="What the deadline does when no one decided: reject (Cancelled), "
        "approve (it runs) or deadLetter.",
    )

    @field_validator("input_schema")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None:
            check_json_value(schema)
            waits.check_schema(schema)
        return schema

    def spec(self) -> waits.WaitSpec:
        return waits.approval(
            self.question,
            schema=self.input_schema,
            deadline_seconds=self.deadline_seconds,
            on_deadline=self.on_deadline,
        )


class WaitForBody(RequestBody):
    """A signal the task waits for before it starts (POST /api/v1/signals sends it)."""

    signal: SafeText = Field(min_length=1, max_length=waits.MAX_KEY, examples=["payment"])
    key: SafeText = Field(min_length=1, max_length=waits.MAX_KEY, examples=["order-7"])
    timeout_seconds: float | None = WaitSeconds
    on_timeout: Literal["deadLetter", "run", "cancel"] = Field(
        default="deadLetter",
        description="What the timeout does when no signal came: deadLetter, run (without "
        "the signal) or cancel.",
    )

    def spec(self) -> waits.WaitSpec:
        return waits.signal_wait(
            self.signal,
            self.key,
            timeout_seconds=self.timeout_seconds,
            on_timeout=self.on_timeout,
        )


class WaitingForBody(Output):
    """What a parked task waits for, and since when."""

    kind: Literal["approval", "input", "signal"] = Field(
        description="approval (before it runs), input (its handler asked), or signal."
    )
    wait_key: str
    question: str | None = None
    input_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    signal: str | None = None
    key: str | None = None
    since: datetime
    deadline: datetime | None = None
    on_deadline: str
