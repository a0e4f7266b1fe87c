"""Files in the artifact store live as long as their task: the prune deletes them too."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app.adapters.artifacts.local import LocalArtifactStore
from app.adapters.postgres.maintenance_store import PgMaintenanceStore
from app.application.maintenance import Maintenance, MaintenanceConfig
from app.bootstrap import Services
from app.domain.enums import CapabilityType
from tests.factories import insert_task
from tests.fakes import FakeArtifactStore
from tests.workers.conftest import Enqueue, StartWorker, wait_for_status

Conn = psycopg.AsyncConnection[Any]
LONG_AGO = datetime.now(UTC) - timedelta(days=10)


async def task_ids(conn: Conn) -> set[uuid.UUID]:
    cursor = await conn.execute("SELECT id FROM tasks")
    return {row[0] for row in await cursor.fetchall()}


async def stored_output(
    conn: Conn, store: LocalArtifactStore, tenant: uuid.UUID, **task: Any
) -> tuple[uuid.UUID, str]:
    """A finished task with one output in the store and its row; (task id, uri)."""
    task_id = await insert_task(conn, tenant, **{"status": "Succeeded", **task})
    uri = await store.put(task_id, "output.txt", b"stored output")
    await conn.execute(
        "INSERT INTO task_artifacts (task_id, kind, name, uri, size_bytes) "
        "VALUES (%s, 'file', 'output.txt', %s, 13)",
        (task_id, uri),
    )
    return task_id, uri


def maintenance(services: Services, artifacts: Any, batch_size: int) -> Maintenance:
    return Maintenance(
        PgMaintenanceStore(services.pool, services.url),
        MaintenanceConfig(
            retention_seconds=7 * 86_400,
            dead_letter_retention_seconds=30 * 86_400,
            batch_size=batch_size,
        ),
        artifacts=artifacts,
    )


async def test_a_worker_deletes_the_stored_output_of_a_pruned_task_and_keeps_a_recent_one(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker, tmp_path: Path
) -> None:
    folder = tmp_path / "artifacts"
    settings = {
        "ai_provider": "simulated",
        "simulated_ai_latency_ms": 0,
        "artifact_dir": folder,
        "artifact_inline_max_bytes": 0,  # every output goes to the store
    }
    first = await start_worker(**settings)
    old, recent = await enqueue(
        "summarise",
        count=2,
        payload={"prompt": "Summarise the contract."},
        capability_type=CapabilityType.LLM_GENERATION,
    )
    await wait_for_status(conn, [old, recent], {"Succeeded"})
    await first.stop()
    cursor = await conn.execute(
        "SELECT task_id, uri, size_bytes FROM task_artifacts WHERE uri IS NOT NULL"
    )
    stored = {row[0]: (row[1], row[2]) for row in await cursor.fetchall()}
    store = LocalArtifactStore(folder)
    assert set(stored) == {old, recent}
    for task_id, (uri, size_bytes) in stored.items():
        assert len(await store.get(uri, task_id=task_id) or b"") == size_bytes > 0
    await conn.execute(
        "UPDATE tasks SET finished_at = now() - interval '8 days' WHERE id = %s", (old,)
    )

    await start_worker(**settings)  # its maintenance prunes in its first round
    deadline = asyncio.get_running_loop().time() + 15
    while old in await task_ids(conn):
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("the old task was not pruned")
        await asyncio.sleep(0.05)

    assert not (folder / str(old)).exists()
    assert await store.get(stored[old][0], task_id=old) is None
    assert await store.get(stored[recent][0], task_id=recent) is not None


async def test_the_prune_deletes_stored_files_batch_by_batch_and_keeps_retained_ones(
    conn: Conn, services: Services, tenant: uuid.UUID, tmp_path: Path
) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    old = [(await stored_output(conn, store, tenant, finished_at=LONG_AGO)) for _ in range(4)]
    # A file whose row was never written (the lease was lost right after the put).
    orphaned = await insert_task(conn, tenant, status="Succeeded", finished_at=LONG_AGO)
    await store.put(orphaned, "output.txt", b"never referenced")
    no_files = await insert_task(conn, tenant, status="Succeeded", finished_at=LONG_AGO)
    dead = await stored_output(conn, store, tenant, status="DeadLetter", finished_at=LONG_AGO)
    recent = await stored_output(conn, store, tenant, finished_at=datetime.now(UTC))

    counts = await maintenance(services, store, batch_size=2).run_once()

    assert (counts.pruned, counts.artifacts_cleared) == (6, 5)
    assert await task_ids(conn) == {dead[0], recent[0]}
    assert sorted(p.name for p in store.root.iterdir()) == sorted([str(dead[0]), str(recent[0])])
    for task_id, uri in old:
        assert await store.get(uri, task_id=task_id) is None
    assert await store.get(dead[1], task_id=dead[0]) == b"stored output"
    assert await store.get(recent[1], task_id=recent[0]) == b"stored output"
    assert no_files not in await task_ids(conn)


class BrokenArtifactStore(FakeArtifactStore):
    """A store whose deletes fail, as on a read-only or unreachable volume."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[list[uuid.UUID]] = []

    async def delete_tasks(self, task_ids: Sequence[uuid.UUID]) -> int:
        self.asked.append(list(task_ids))
        raise PermissionError("read-only file system")


async def test_when_files_cannot_be_deleted_the_prune_stops_after_that_batch(
    conn: Conn, services: Services, tenant: uuid.UUID
) -> None:
    for _ in range(5):
        await insert_task(conn, tenant, status="Succeeded", finished_at=LONG_AGO)
    store = BrokenArtifactStore()

    with pytest.raises(PermissionError):
        await maintenance(services, store, batch_size=2).run_once()

    # Files are deleted only after their rows' delete committed: that batch is gone,
    # but no further rows are deleted while their files could not be.
    [batch] = store.asked
    assert len(batch) == 2
    assert len(await task_ids(conn)) == 3
    assert not set(batch) & await task_ids(conn)
