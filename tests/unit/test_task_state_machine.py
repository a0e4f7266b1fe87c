"""The task state machine: every allowed move, and every forbidden one, spelled out."""

from __future__ import annotations

import itertools

import pytest

from app.domain.enums import TaskStatus
from app.domain.errors import InvalidTransition
from app.domain.task import (
    STATUS_MEANINGS,
    can_transition,
    holds_lease,
    is_finished,
    transition,
)

S = TaskStatus

# Written out by hand from the seeds' diagram, independently of app/domain/task.py.
EXPECTED_ALLOWED = {
    (S.CREATED, S.QUEUED): "released to workers",
    (S.CREATED, S.CANCELLED): "cancelled before release",
    (S.QUEUED, S.RESERVED): "claimed by a worker",
    (S.QUEUED, S.RUNNING): "claimed and started in one step",
    (S.QUEUED, S.CANCELLED): "cancelled while waiting",
    (S.RESERVED, S.RUNNING): "reservation started",
    (S.RESERVED, S.QUEUED): "reservation handed back",
    (S.RESERVED, S.FAILED): "lease ran out, retry later",
    (S.RESERVED, S.DEAD_LETTER): "lease ran out, no attempts left",
    (S.RESERVED, S.CANCELLED): "cancelled before it started",
    (S.RUNNING, S.SUCCEEDED): "handler returned",
    (S.RUNNING, S.FAILED): "retryable error",
    (S.RUNNING, S.DEAD_LETTER): "non-recoverable error or attempts exhausted",
    (S.RUNNING, S.CANCELLED): "cancel request honoured",
    (S.RUNNING, S.QUEUED): "lease released on graceful shutdown",
    (S.FAILED, S.RESERVED): "retry claimed",
    (S.FAILED, S.RUNNING): "retry claimed and started",
    (S.FAILED, S.QUEUED): "operator requeue",
    (S.FAILED, S.CANCELLED): "cancelled while waiting for retry",
    (S.FAILED, S.DEAD_LETTER): "operator gives up on it",
    (S.DEAD_LETTER, S.QUEUED): "operator requeue",
    (S.CREATED, S.SUCCEEDED): "a batch's last child ended, all succeeded",
    (S.CREATED, S.DEAD_LETTER): "a batch's last child ended, some dead-lettered",
    (S.DEAD_LETTER, S.CREATED): "a requeued dead child reopens its batch",
    (S.RUNNING, S.CREATED): "its handler asked for input or a signal: parked",
}

ALL_PAIRS = list(itertools.product(TaskStatus, repeat=2))
FORBIDDEN = [pair for pair in ALL_PAIRS if pair not in EXPECTED_ALLOWED]


@pytest.mark.parametrize(("current", "new"), list(EXPECTED_ALLOWED), ids=str)
def test_allowed_transition_is_accepted(current: TaskStatus, new: TaskStatus) -> None:
    assert can_transition(current, new)
    assert transition(current, new) is new


@pytest.mark.parametrize(("current", "new"), FORBIDDEN, ids=str)
def test_forbidden_transition_is_refused(current: TaskStatus, new: TaskStatus) -> None:
    assert not can_transition(current, new)
    with pytest.raises(InvalidTransition) as raised:
        transition(current, new)
    assert raised.value.current is current
    assert raised.value.new is new
    assert f"from {current} to {new}" in str(raised.value)


def test_every_pair_of_statuses_is_covered() -> None:
    assert len(EXPECTED_ALLOWED) + len(FORBIDDEN) == len(TaskStatus) ** 2 == 64


@pytest.mark.parametrize("status", [S.SUCCEEDED, S.CANCELLED])
def test_succeeded_and_cancelled_tasks_never_move_again(status: TaskStatus) -> None:
    assert not any(can_transition(status, other) for other in TaskStatus)


def test_finished_statuses_are_the_ones_no_worker_touches() -> None:
    assert {s for s in TaskStatus if is_finished(s)} == {S.SUCCEEDED, S.CANCELLED, S.DEAD_LETTER}


def test_only_reserved_and_running_tasks_hold_a_lease() -> None:
    assert {s for s in TaskStatus if holds_lease(s)} == {S.RESERVED, S.RUNNING}


def test_every_status_has_a_documented_meaning() -> None:
    assert set(STATUS_MEANINGS) == set(TaskStatus)
    assert "scheduled_at" in STATUS_MEANINGS[S.FAILED]
    assert "requeue" in STATUS_MEANINGS[S.DEAD_LETTER]


def test_status_values_are_spelled_as_in_the_seeds() -> None:
    assert [s.value for s in TaskStatus] == [
        "Created",
        "Queued",
        "Reserved",
        "Running",
        "Succeeded",
        "Failed",
        "Cancelled",
        "DeadLetter",
    ]
