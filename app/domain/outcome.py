"""How an attempt ends, decided from what the handler did. Pure: no clock, no I/O.

- a return value: Succeeded;
- a `NonRetryableError`: DeadLetter at once;
- anything else (a `RetryableError`, a timeout, a network error, an unexpected
  exception): Failed with a retry after the backoff, or DeadLetter when the
  attempts are used up. Unknown errors are retried because most are transient
  and `max_attempts` bounds the cost of being wrong;
- a cancel request: Cancelled; a graceful shutdown: the task is released to the
  queue and the attempt does not count.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from app.domain.enums import AttemptStatus, TaskStatus
from app.domain.errors import NonRetryableError, RetryableError, TaskError
from app.domain.events import EventType
from app.domain.retry import RetryPolicy

MAX_ERROR_DETAIL = 2000


@dataclass(frozen=True, slots=True)
class Outcome:
    """The end of one attempt: the task's next status and what to record."""

    task_status: TaskStatus
    attempt_status: AttemptStatus
    event_type: EventType
    # Seconds from now (the database's now) until the retry; None when there is none.
    retry_delay: float | None = None
    error_code: str | None = None
    error_detail: str | None = None

    @property
    def counts_as_attempt(self) -> bool:
        return self.attempt_status is not AttemptStatus.RELEASED


SUCCEEDED = Outcome(TaskStatus.SUCCEEDED, AttemptStatus.SUCCEEDED, EventType.SUCCEEDED)
CANCELLED = Outcome(
    TaskStatus.CANCELLED, AttemptStatus.CANCELLED, EventType.CANCELLED, error_code="Cancelled"
)
RELEASED = Outcome(TaskStatus.QUEUED, AttemptStatus.RELEASED, EventType.RELEASED)
# The handler asked for input or a signal: the task is parked, the attempt not counted.
PARKED = Outcome(TaskStatus.CREATED, AttemptStatus.RELEASED, EventType.AWAITING_INPUT)


def error_code_of(error: BaseException) -> str:
    if isinstance(error, TaskError):
        return error.code
    if isinstance(error, TimeoutError):
        return "Timeout"
    return type(error).__name__


def describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text[:MAX_ERROR_DETAIL]


def failed(
    error: BaseException,
    *,
    attempt_no: int,
    max_attempts: int,
    policy: RetryPolicy,
    rng: random.Random | None = None,
) -> Outcome:
    """The outcome of an attempt that raised `error`."""
    code, detail = error_code_of(error), describe(error)
    attempt_status = (
        AttemptStatus.TIMED_OUT if isinstance(error, TimeoutError) else AttemptStatus.FAILED
    )
    if isinstance(error, NonRetryableError) or attempt_no >= max_attempts:
        return Outcome(
            TaskStatus.DEAD_LETTER,
            attempt_status,
            EventType.DEAD_LETTERED,
            error_code=code,
            error_detail=detail,
        )
    retry_after = error.retry_after if isinstance(error, RetryableError) else None
    delay = policy.delay(attempt_no, retry_after=retry_after, rng=rng)
    return Outcome(
        TaskStatus.FAILED,
        attempt_status,
        EventType.FAILED,
        retry_delay=delay,
        error_code=code,
        error_detail=detail,
    )
