"""The one call every path that ends (or reopens) a child makes: task_groups_settle.

A worker's finish, a cancel, the rescue of an expired lease and a requeue each change
task rows in one statement; the children among them go to their parents here, on the
same connection and in the same transaction (docs/design/dependencies.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from app.adapters.postgres.queries import query
from app.domain.dependencies import ChildChange, child_changes


async def settle(conn: AsyncConnection[Any], changes: Iterable[ChildChange]) -> None:
    """Apply the changes (if any) to their parents' groups, in `conn`'s transaction."""
    batch = [c.as_json() for c in changes]
    if batch:
        await conn.execute(query("task_groups_settle"), {"changes": Jsonb(batch)})


async def settle_rows(
    conn: AsyncConnection[Any],
    rows: Iterable[tuple[uuid.UUID, uuid.UUID | None, uuid.UUID, str]],
    *,
    reopened: bool = False,
) -> None:
    """Rows of (task id, parent id, tenant id, status): the children that ended in
    `status`, or, with `reopened`, that left it again."""
    await settle(conn, child_changes(rows, reopened=reopened))
