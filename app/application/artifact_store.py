"""Where large outputs live: the ArtifactStore port.

Small outputs are stored inline in `task_artifacts.content`; an output larger than
the inline limit goes to an ArtifactStore (a local folder by default) and its row
keeps only the store's URI, which the API resolves when the artifact is fetched.
Maintenance deletes a task's stored files when it prunes the task.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol


class ArtifactStore(Protocol):
    """Bytes kept outside Postgres, addressed by a URI the store hands out."""

    def owns(self, uri: str) -> bool:
        """Whether `uri` names something this store wrote (its scheme is the store's)."""
        ...

    async def put(self, task_id: uuid.UUID, name: str, data: bytes) -> str:
        """Store `data` for `task_id` under a name derived from `name`; return its URI."""
        ...

    async def get(self, uri: str, *, task_id: uuid.UUID) -> bytes | None:
        """The stored bytes, or None when the URI is not the store's, is not stored for
        `task_id` (a row must not lend one task's file to another), or names nothing."""
        ...

    async def delete_tasks(self, task_ids: Sequence[uuid.UUID]) -> int:
        """Delete everything stored for these tasks, whose rows are gone; how many of them
        had anything stored. Call it only after the rows' delete committed."""
        ...
