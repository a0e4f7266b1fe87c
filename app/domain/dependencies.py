"""Tasks that wait on other tasks: the rules of the one dependency mechanism.

A parent (a batch, later a saga) waits in `Created` for its children; each child that
ends (Succeeded, DeadLetter, Cancelled) counts once against its parent, and a requeued
dead child counts back. The database applies the counts (task_groups_settle); these
rules decide what is counted and how a completed parent ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
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

    parent_id: uuid.UUID
    tenant_id: uuid.UUID
    status: TaskStatus
    sign: int = 1

    def as_json(self) -> dict[str, Any]:
        return {
            "parent": str(self.parent_id),
            "tenant": str(self.tenant_id),
            "status": self.status.value,
            "sign": self.sign,
        }


def child_changes(
    rows: Iterable[tuple[uuid.UUID | None, uuid.UUID, str]], *, reopened: bool = False
) -> list[ChildChange]:
    """The changes to count from (parent id, tenant id, status) rows: children only,
    and only endings (a retry or a hand-back is not one)."""
    changes = []
    for parent_id, tenant_id, status in rows:
        if parent_id is None or TaskStatus(status) not in CHILD_ENDINGS:
            continue
        changes.append(ChildChange(parent_id, tenant_id, TaskStatus(status), -1 if reopened else 1))
    return changes


def parent_ending(*, dead_lettered: int, cancel_requested: bool) -> TaskStatus:
    """How a parent ends once its last child has (mirrors task_groups_settle)."""
    if cancel_requested:
        return TaskStatus.CANCELLED
    return TaskStatus.DEAD_LETTER if dead_lettered else TaskStatus.SUCCEEDED
