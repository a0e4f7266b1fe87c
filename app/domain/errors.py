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
