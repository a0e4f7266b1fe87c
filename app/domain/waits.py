"""Tasks that wait on the outside world: a person's decision, or a signal. Pure.

A waiting task is parked (status Created, no lease, no worker slot). What it waits for
is a `WaitSpec` (before it runs: an approval, or a signal) or a `Park` (its handler
asked, while running). The answer is kept in the task's `resume` under the wait's key,
and the handler runs again from the top: `TaskContext.request_input` and
`TaskContext.wait_for_signal` return the kept answer instead of parking a second time.
docs/design/waits.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

MAX_QUESTION = 2000
MAX_KEY = 200
# The longest a task may wait: a deadline or a timeout past this is refused at the door.
MAX_WAIT_SECONDS = 366 * 86_400

ApprovalDeadline = Literal["reject", "approve", "deadLetter"]
SignalTimeout = Literal["deadLetter", "run", "cancel"]
APPROVAL_KEY = "approval"
WAIT_FOR_KEY = "waitFor"


@dataclass(frozen=True, slots=True)
class WaitSpec:
    """A wait a task starts with, before it runs (`task_waits`, kind approval or signal)."""

    kind: Literal["approval", "signal"]
    wait_key: str
    on_deadline: str
    deadline_seconds: float | None = None
    question: str | None = None
    schema: Mapping[str, Any] | None = None
    signal_name: str | None = None
    signal_key: str | None = None

    def as_json(self) -> dict[str, Any]:
        """As the insert (task_enqueue_many) reads it."""
        fields = _wait_fields(self)
        fields.update(deadline_seconds=self.deadline_seconds, on_deadline=self.on_deadline)
        return fields


def approval(
    question: str,
    *,
    schema: Mapping[str, Any] | None = None,
    deadline_seconds: float | None = None,
    on_deadline: ApprovalDeadline = "reject",
) -> WaitSpec:
    """A decision a person makes before the task is released to workers."""
    check_question(question)
    if schema is not None:
        check_schema(schema)
    check_seconds(deadline_seconds, "deadlineSeconds")
    return WaitSpec(
        "approval",
        APPROVAL_KEY,
        on_deadline,
        deadline_seconds,
        question=question,
        schema=schema,
    )


def signal_wait(
    name: str, key: str, *, timeout_seconds: float | None = None, on_timeout: SignalTimeout
) -> WaitSpec:
    """A signal the task waits for before it starts."""
    check_signal_name(name, key)
    check_seconds(timeout_seconds, "timeoutSeconds")
    return WaitSpec(
        "signal",
        WAIT_FOR_KEY,
        on_timeout,
        timeout_seconds,
        signal_name=name,
        signal_key=key,
    )


@dataclass(frozen=True, slots=True)
class Park:
    """A running handler's request: park my task until this wait is answered."""

    kind: Literal["input", "signal"]
    wait_key: str
    timeout_seconds: float | None = None
    question: str | None = None
    schema: Mapping[str, Any] | None = None
    signal_name: str | None = None
    signal_key: str | None = None

    def as_json(self) -> dict[str, Any]:
        """As task_park_attempts reads it."""
        fields = _wait_fields(self)
        fields["timeout_seconds"] = self.timeout_seconds
        return fields


def _wait_fields(wait: WaitSpec | Park) -> dict[str, Any]:
    """What every wait stores, as the SQL reads it (snake_case keys)."""
    return {
        "kind": wait.kind,
        "wait_key": wait.wait_key,
        "question": wait.question,
        "schema": dict(wait.schema) if wait.schema is not None else None,
        "signal_name": wait.signal_name,
        "signal_key": wait.signal_key,
    }


class TaskParked(BaseException):
    """Raised by the context to end the attempt and park the task.

    A BaseException, so a handler's `except Exception` does not swallow it.
    """

    def __init__(self, park: Park) -> None:
        super().__init__(park.wait_key)
        self.park = park


@dataclass(frozen=True, slots=True)
class Decision:
    """A person's answer (or the deadline's): what `request_input` returns."""

    decision: Literal["approve", "reject", "timeout"]
    input: Any = None
    comment: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None

    @property
    def approved(self) -> bool:
        return self.decision == "approve"

    @property
    def timed_out(self) -> bool:
        return self.decision == "timeout"


@dataclass(frozen=True, slots=True)
class SignalReceived:
    """A signal as a waiting handler gets it."""

    id: str
    name: str
    key: str
    data: Any
    received_at: str | None = None


def decision_of(answer: Mapping[str, Any]) -> Decision:
    """The Decision kept in `resume` for one wait."""
    if answer.get("timedOut"):
        return Decision("timeout")
    d = answer.get("decision") or {}
    return Decision(
        d.get("decision", "reject"),
        d.get("input"),
        d.get("comment"),
        d.get("decidedBy"),
        d.get("decidedAt"),
    )


def signal_of(answer: Mapping[str, Any]) -> SignalReceived | None:
    """The signal kept in `resume` for one wait; None when the wait timed out."""
    s = answer.get("signal")
    if not isinstance(s, Mapping):
        return None
    return SignalReceived(str(s["id"]), s["name"], s["key"], s.get("data"), s.get("receivedAt"))


def latest_decision(resume: Mapping[str, Any] | None) -> Decision | None:
    """The newest decision among a task's answers (for `ctx.input`)."""
    answers = (resume or {}).values()
    decisions = [decision_of(a) for a in answers if isinstance(a, Mapping) and "decision" in a]
    if not decisions:
        return None
    return max(decisions, key=lambda d: d.decided_at or "")


def input_key(question: str, key: str | None) -> str:
    """The wait key of a handler's question: its own key, else derived from the question."""
    if key is not None:
        _check_text(key, MAX_KEY, "key")
        return "input:" + key
    return "input:" + hashlib.sha256(question.encode()).hexdigest()[:32]


def signal_key_of(name: str, key: str) -> str:
    return f"signal:{name}:{key}"


# -- checks (also used at the door, so their messages name the field) -----------------


class WaitError(ValueError):
    """A wait that cannot be: `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _check_text(value: str, limit: int, field: str) -> None:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise WaitError(field, f"must be 1 to {limit} characters")
    if "\x00" in value:
        raise WaitError(field, "must not contain NUL")


def check_question(question: str) -> None:
    _check_text(question, MAX_QUESTION, "question")


def check_signal_name(name: str, key: str) -> None:
    _check_text(name, MAX_KEY, "signal")
    _check_text(key, MAX_KEY, "key")


def check_seconds(seconds: float | None, field: str) -> None:
    if seconds is None:
        return
    if isinstance(seconds, bool) or not 1 <= seconds <= MAX_WAIT_SECONDS:
        raise WaitError(field, f"must be between 1 and {MAX_WAIT_SECONDS} seconds")


def check_schema(schema: Mapping[str, Any]) -> None:
    """A JSON Schema (2020-12) the decision's input must match."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        raise WaitError("schema", f"is not a valid JSON Schema: {error.message}") from error


def input_errors(schema: Mapping[str, Any] | None, value: Any) -> list[tuple[str, str]]:
    """(path, message) for each way `value` breaks `schema`; [] when it fits (or no schema)."""
    if schema is None:
        return []
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    return [
        (".".join(["input", *(str(p) for p in e.absolute_path)]), e.message) for e in errors[:20]
    ]


def deadline_text(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
