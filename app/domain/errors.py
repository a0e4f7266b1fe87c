"""Domain errors: what can go wrong in the rules themselves, free of transport details."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.domain.enums import TaskStatus


class DomainError(Exception):
    """Base for every rule the domain refuses."""


class InvalidTransition(DomainError):
    """A state change that the task state machine does not allow."""

    def __init__(self, current: TaskStatus, new: TaskStatus) -> None:
        super().__init__(f"a task cannot go from {current} to {new}")
        self.current = current
        self.new = new


class TaskError(Exception):
    """Raised by a handler to say how its attempt failed. `code` is a short machine name."""

    default_code = "TaskError"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code


class RetryableError(TaskError):
    """A failure that may pass on its own (network, timeout, provider 429/5xx).

    `retry_after` (seconds) is honoured when it asks for a longer wait than the backoff.
    """

    default_code = "Retryable"

    def __init__(
        self, message: str, *, retry_after: float | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class NonRetryableError(TaskError):
    """A failure that no retry can fix (invalid input, refused request): straight to DeadLetter."""

    default_code = "NonRetryable"
