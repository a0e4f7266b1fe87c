"""The task state machine.

    Created -> Queued -> (Reserved) -> Running -> Succeeded
                                          \\-> Failed (retry at scheduled_at) -> Running ...
                                          \\-> Cancelled
                                          \\-> DeadLetter (retries exhausted / non-recoverable)

Every state change the engine, the API or an operator makes is one of the
pairs in `ALLOWED_TRANSITIONS`; the database keeps the same table
(`task_status_transitions`) so a DBA can read it, and a test keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.domain.enums import TaskStatus
from app.domain.errors import InvalidTransition

S = TaskStatus

# What each status means, for docs, the API and the DBA views.
STATUS_MEANINGS: Mapping[TaskStatus, str] = {
    S.CREATED: (
        "Accepted but not yet released to workers (part of a larger unit still being built)."
    ),
    S.QUEUED: "Waiting for a worker; claimable once scheduled_at has come.",
    S.RESERVED: "Claimed by a worker (locked_by, locked_until) that has not started it yet.",
    S.RUNNING: "A worker is executing it under a lease it keeps extending.",
    S.SUCCEEDED: "Finished; the result is stored as an artifact.",
    S.FAILED: (
        "The last attempt failed with a retryable error; the task waits for its retry at "
        "scheduled_at and is claimable again then."
    ),
    S.CANCELLED: "Stopped on request before it finished; never runs again.",
    S.DEAD_LETTER: (
        "Retries exhausted or a non-recoverable error; stays put until an operator requeues it."
    ),
}

ALLOWED_TRANSITIONS: Mapping[TaskStatus, frozenset[TaskStatus]] = {
    # A parent (batch, saga) held in Created ends when its last child does (0013).
    S.CREATED: frozenset({S.QUEUED, S.CANCELLED, S.SUCCEEDED, S.DEAD_LETTER}),
    S.QUEUED: frozenset({S.RESERVED, S.RUNNING, S.CANCELLED}),
    # A reservation can be started, handed back, lost (lease ran out) or cancelled.
    S.RESERVED: frozenset({S.RUNNING, S.QUEUED, S.FAILED, S.DEAD_LETTER, S.CANCELLED}),
    # Queued again when a worker shuts down gracefully and releases its lease; parked
    # (Created) when its handler asks for input or a signal (0016).
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.DEAD_LETTER, S.CANCELLED, S.QUEUED, S.CREATED}),
    # A due retry is claimed like a queued task; an operator may requeue it at once.
    S.FAILED: frozenset({S.RESERVED, S.RUNNING, S.QUEUED, S.CANCELLED, S.DEAD_LETTER}),
    # A requeued dead child reopens its completed parent (Created again).
    S.DEAD_LETTER: frozenset({S.QUEUED, S.CREATED}),
    S.SUCCEEDED: frozenset(),
    S.CANCELLED: frozenset(),
}

TERMINAL_STATUSES = frozenset(s for s, nexts in ALLOWED_TRANSITIONS.items() if not nexts) | {
    # DeadLetter only leaves by an operator's requeue: no worker touches it.
    S.DEAD_LETTER
}
LEASED_STATUSES = frozenset({S.RESERVED, S.RUNNING})
CLAIMABLE_STATUSES = frozenset({S.QUEUED, S.FAILED})


def can_transition(current: TaskStatus, new: TaskStatus) -> bool:
    """Whether a task in `current` may move to `new`."""
    return new in ALLOWED_TRANSITIONS[current]


def transition(current: TaskStatus, new: TaskStatus) -> TaskStatus:
    """Return `new` if the move is allowed, else raise `InvalidTransition`."""
    if not can_transition(current, new):
        raise InvalidTransition(current, new)
    return new


def is_finished(status: TaskStatus) -> bool:
    """A finished task has ended for good (Succeeded, Cancelled) or waits for an operator."""
    return status in TERMINAL_STATUSES


def holds_lease(status: TaskStatus) -> bool:
    """Exactly the leased statuses carry locked_by / locked_until (a database CHECK agrees)."""
    return status in LEASED_STATUSES
