"""Dead letters in bulk: the ones matching a filter, requeued one by one through the same
guarded requeue the API uses, page after page."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from app.application.task_repository import TaskRepository
from app.application.tasks import TaskNotFound, TaskNotRequeueable, requeue_task


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead letters: dead-lettered by `until`, and (each when given) of this tenant,
    this type, this error code, since this instant."""

    until: datetime
    tenant_id: uuid.UUID | None = None
    type: str | None = None
    error_code: str | None = None
    since: datetime | None = None


class DeadLetters(Protocol):
    """The dead letters an operator filters."""

    async def page(
        self,
        which: DeadLetterFilter,
        *,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Matching dead letters after `after` (finished_at, id), oldest first."""
        ...

    async def count(self, which: DeadLetterFilter) -> int:
        """How many dead letters match."""
        ...


@dataclass(slots=True)
class BulkRequeue:
    """What a bulk requeue did."""

    requeued: int = 0
    # Matched when listed, but no longer requeueable (requeued, cancelled or pruned since,
    # or a saga's step, which its saga has compensated).
    skipped: int = 0


async def requeue_dead_letters(
    which: DeadLetterFilter,
    *,
    requested_by: str,
    letters: DeadLetters,
    tasks: TaskRepository,
    limit: int | None = None,
    page_size: int = 200,
) -> BulkRequeue:
    """Requeue every dead letter matching `which` (at most `limit`); a batch's child reopens
    its batch, as through the API. Those dead-lettered after `which.until` (a requeued task
    that dies again among them) are left alone, so the run ends."""
    done = BulkRequeue()
    after: tuple[datetime, uuid.UUID] | None = None
    while limit is None or done.requeued + done.skipped < limit:
        size = page_size if limit is None else min(page_size, limit - done.requeued - done.skipped)
        page = await letters.page(which, after=after, limit=size)
        for row in page:
            try:
                await requeue_task(
                    row["tenant_id"], row["id"], requested_by=requested_by, tasks=tasks
                )
                done.requeued += 1
            except (TaskNotFound, TaskNotRequeueable):
                done.skipped += 1
        if len(page) < size:
            return done
        after = (page[-1]["finished_at"], page[-1]["id"])
    return done
