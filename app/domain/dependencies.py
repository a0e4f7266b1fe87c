"""Tasks that wait on other tasks: the rules of the one dependency mechanism.

A parent (a batch, later a saga) waits in `Created` for its children; each child that
ends (Succeeded, DeadLetter, Cancelled) counts once against its parent, and a requeued
dead child counts back. The database applies the counts (task_groups_settle); these
rules decide what is counted and how a completed parent ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.domain.enums import TaskStatus

# The endings a parent counts. Failed is not one: the child waits for its retry.
CHILD_ENDINGS = frozenset({TaskStatus.SUCCEEDED, TaskStatus.DEAD_LETTER, TaskStatus.CANCELLED})

# At least 10 000 children per batch (issue 15); one statement inserts them all.
MAX_BATCH_CHILDREN = 10_000


class WaitReason(StrEnum):
    """Why a `Created` task is held (tasks.wait_reason)."""

    CHILDREN = "children"
    DEPENDENCIES = "dependencies"


class FailurePolicy(StrEnum):
    """What a batch does when a child is dead-lettered."""

    CONTINUE = "continue"
    FAIL_FAST = "failFast"


@dataclass(frozen=True, slots=True)
class ChildChange:
    """One child entering (sign 1) or leaving (sign -1) an ending of its parent's count."""

    task_id: uuid.UUID
    parent_id: uuid.UUID
    tenant_id: uuid.UUID
    status: TaskStatus
    sign: int = 1

    def as_json(self) -> dict[str, Any]:
        return {
            "task": str(self.task_id),
            "parent": str(self.parent_id),
            "tenant": str(self.tenant_id),
            "status": self.status.value,
            "sign": self.sign,
        }


def child_changes(
    rows: Iterable[tuple[uuid.UUID, uuid.UUID | None, uuid.UUID, str]], *, reopened: bool = False
) -> list[ChildChange]:
    """The changes to count from (task id, parent id, tenant id, status) rows: children
    only, and only endings (a retry or a hand-back is not one)."""
    changes = []
    for task_id, parent_id, tenant_id, status in rows:
        if parent_id is None or TaskStatus(status) not in CHILD_ENDINGS:
            continue
        sign = -1 if reopened else 1
        changes.append(ChildChange(task_id, parent_id, tenant_id, TaskStatus(status), sign))
    return changes


def dependency_error(count: int, depends_on: Mapping[int, Collection[int]]) -> str | None:
    """None when `depends_on` (task index -> the indexes it depends on) is a DAG over
    tasks 0..count-1; else what is wrong with it, in words."""
    for task, needs in depends_on.items():
        if not 0 <= task < count or any(not 0 <= n < count for n in needs):
            return "dependsOn names a task that is not in the batch"
        if task in needs:
            return f"task {task} depends on itself"
    # Kahn: a DAG empties; what is left is on a cycle.
    waiting = {task: len(set(needs)) for task, needs in depends_on.items() if needs}
    successors: dict[int, list[int]] = {}
    for task, needs in depends_on.items():
        for need in set(needs):
            successors.setdefault(need, []).append(task)
    ready = [task for task in range(count) if task not in waiting]
    while ready:
        for successor in successors.get(ready.pop(), ()):
            waiting[successor] -= 1
            if waiting[successor] == 0:
                del waiting[successor]
                ready.append(successor)
    if waiting:
        return f"dependsOn has a cycle through task {min(waiting)}"
    return None


def parent_ending(*, dead_lettered: int, cancel_requested: bool) -> TaskStatus:
    """How a parent ends once its last child has (mirrors task_groups_settle)."""
    if cancel_requested:
        return TaskStatus.CANCELLED
    return TaskStatus.DEAD_LETTER if dead_lettered else TaskStatus.SUCCEEDED
