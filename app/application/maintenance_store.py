"""The maintenance port: the periodic work the elected leader does, as a Protocol."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol


class MaintenanceStore(Protocol):
    """The periodic work the elected leader does."""

    async def try_lead(self) -> bool:
        """Hold leadership (an advisory lock on a session of its own); True while held."""
        ...

    async def resign(self) -> None:
        """Give leadership up."""
        ...

    async def rescue_expired(self, limit: int) -> int:
        """Return one batch of tasks whose lease ran out; how many."""
        ...

    async def wake_due(self, since: datetime) -> None:
        """Notify workers if delayed tasks came due after `since`."""
        ...

    async def prune_finished(
        self, retention_seconds: float, dead_letter_retention_seconds: float, limit: int
    ) -> list[uuid.UUID]:
        """Delete one batch of finished tasks past retention, with their attempts, events
        and artifact rows, first adding the attempts' usage to usage_history (so usage
        totals survive); return the ids of the tasks deleted, a delete already committed."""
        ...

    async def expire_waits(self, limit: int) -> int:
        """End one batch of waits whose deadline passed, as each one's on_deadline says
        (a parent counts a child that ended, in the same transaction); how many."""
        ...

    async def prune_signals(self, limit: int) -> int:
        """Forget one batch of signals past their retention window; how many."""
        ...

    async def now(self) -> datetime:
        """The database clock."""
        ...
