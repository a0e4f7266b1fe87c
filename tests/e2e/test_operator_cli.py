"""The operator CLI against a real database: `assistente tasks list|cancel|requeue`,
`assistente dead-letters list|requeue` and `assistente health`, as tables and as JSON."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result

from app.adapters.postgres.leadership import AdvisoryLeadership
from app.adapters.postgres.lease_store import PgLeaseStore
from app.adapters.postgres.queries import query
from app.application.ports import FinishedAttempt
from app.bootstrap import Services
from app.cli import main
from app.domain.enums import AttemptStatus, TaskStatus
from app.domain.events import EventType
from app.domain.outcome import Outcome
from tests.batches.conftest import MakeBatch, batch_row, make_batch  # noqa: F401 (fixture)
from tests.factories import insert_task, insert_tenant
from tests.workers.conftest import services, tenant  # noqa: F401 (fixtures)

Conn = psycopg.AsyncConnection[Any]


@pytest.fixture
def run(database_url: str, tmp_path: Path) -> Any:
    """run(*args, input=None) -> click's Result of `assistente args` against this database."""
    env = {"DATABASE_URL": database_url, "LOG_DIR": str(tmp_path), "LOG_CONSOLE": "false"}

    async def invoke(*args: str, input: str | None = None) -> Result:
        # The command runs its own event loop: run it in a thread of its own.
        return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env, input=input)

    return invoke


async def dead_letter(running: Services, codes: dict[uuid.UUID, str]) -> None:
    """Lease the queued tasks and dead-letter those in `codes`, each with its error code."""
    store = PgLeaseStore(running.pool)
    leased = await store.lease_available("w1", 100, 30)
    await store.finish_attempts(
        "w1",
        [
            FinishedAttempt(
                task.id,
                task.attempt_id,
                Outcome(
                    TaskStatus.DEAD_LETTER,
                    AttemptStatus.FAILED,
                    EventType.DEAD_LETTERED,
                    error_code=codes[task.id],
                    error_detail="it broke",
                ),
            )
            for task in leased
            if task.id in codes
        ],
    )


async def status_of(conn: Conn, task_id: uuid.UUID) -> str:
    row = await (
        await conn.execute("SELECT status::text FROM tasks WHERE id = %s", (task_id,))
    ).fetchone()
    assert row is not None
    return str(row[0])


async def test_tasks_list_shows_every_tenant_or_one_by_status_and_type(
    conn: Conn, run: Any
) -> None:
    one, other = await insert_tenant(conn), await insert_tenant(conn)
    mine = await insert_task(conn, one, type="mail.send")
    await insert_task(
        conn, one, type="demo.noop", status="Succeeded", finished_at=datetime.now(UTC)
    )
    theirs = await insert_task(conn, other, type="mail.send")

    table = await run("tasks", "list")
    assert table.exit_code == 0, table.output
    assert str(mine) in table.output and str(theirs) in table.output
    assert "mail.send" in table.output and "\x1b[" not in table.output  # no colour in a pipe

    result = await run("tasks", "list", "--tenant", str(one), "--type", "mail.send", "--json")
    assert result.exit_code == 0, result.output
    [item] = json.loads(result.output)["items"]
    assert (item["id"], item["tenantId"], item["status"]) == (str(mine), str(one), "Queued")

    result = await run("tasks", "list", "--status", "Succeeded", "--json")
    assert [i["type"] for i in json.loads(result.output)["items"]] == ["demo.noop"]


async def test_tasks_cancel_cancels_a_waiting_task_and_fails_on_a_finished_one(
    conn: Conn, run: Any
) -> None:
    tenant_id = await insert_tenant(conn)
    task_id = await insert_task(conn, tenant_id)

    result = await run("tasks", "cancel", str(task_id), "--tenant", str(tenant_id), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "id": str(task_id),
        "outcome": "cancelled",
        "status": "Cancelled",
    }
    assert await status_of(conn, task_id) == "Cancelled"

    again = await run("tasks", "cancel", str(task_id), "--tenant", str(tenant_id))
    assert again.exit_code == 1
    assert again.output.strip() == f"error: task {task_id} already finished as Cancelled"


async def test_tasks_of_another_tenant_or_none_at_all_are_not_found(conn: Conn, run: Any) -> None:
    tenant_id, stranger = await insert_tenant(conn), await insert_tenant(conn)
    task_id = await insert_task(conn, tenant_id)
    for command in ("cancel", "requeue"):
        result = await run("tasks", command, str(task_id), "--tenant", str(stranger))
        assert result.exit_code == 1
        assert result.output.strip() == f"error: task {task_id} was not found"
    assert await status_of(conn, task_id) == "Queued"


async def test_tasks_requeue_puts_a_dead_letter_back_and_refuses_a_queued_task(
    conn: Conn,
    services: Services,  # noqa: F811
    tenant: uuid.UUID,  # noqa: F811
    run: Any,
) -> None:
    dead = await insert_task(conn, tenant, max_attempts=1)
    await dead_letter(services, {dead: "Boom"})

    table = await run("tasks", "requeue", str(dead), "--tenant", str(tenant))
    assert (table.exit_code, table.output) == (0, f"task {dead}: requeued (Queued)\n")
    assert await status_of(conn, dead) == "Queued"

    refused = await run("tasks", "requeue", str(dead), "--tenant", str(tenant), "--json")
    assert refused.exit_code == 1
    assert "only DeadLetter or Failed tasks are requeued" in refused.output


async def make_dead_letters(
    conn: Conn, running: Services, tenant_id: uuid.UUID
) -> dict[str, uuid.UUID]:
    """Three dead letters of `tenant_id` and one of another tenant, by name."""
    other = await insert_tenant(conn)
    tasks = {
        "mail_boom": await insert_task(conn, tenant_id, type="mail.send", max_attempts=1),
        "mail_timeout": await insert_task(conn, tenant_id, type="mail.send", max_attempts=1),
        "pdf_boom": await insert_task(conn, tenant_id, type="pdf.render", max_attempts=1),
        "other_boom": await insert_task(conn, other, type="mail.send", max_attempts=1),
    }
    codes = {"mail_boom": "Boom", "mail_timeout": "Timeout", "pdf_boom": "Boom"}
    await dead_letter(running, {tasks[n]: codes.get(n, "Boom") for n in tasks})
    return tasks


async def test_dead_letters_list_filters_by_tenant_type_error_code_and_since(
    conn: Conn,
    services: Services,  # noqa: F811
    tenant: uuid.UUID,  # noqa: F811
    run: Any,
) -> None:
    tasks = await make_dead_letters(conn, services, tenant)

    table = await run("dead-letters", "list", "--tenant", str(tenant))
    assert table.exit_code == 0, table.output
    assert "dead letters (3 match)" in table.output and "Timeout" in table.output
    assert str(tasks["other_boom"]) not in table.output

    args = ["--tenant", str(tenant), "--type", "mail.send", "--error-code", "Boom"]
    result = await run("dead-letters", "list", *args, "--since", "1h", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["count"] == 1
    [item] = document["items"]
    assert (item["id"], item["errorCode"], item["attempts"]) == (
        str(tasks["mail_boom"]),
        "Boom",
        1,
    )

    later = await run("dead-letters", "list", "--since", "2999-01-01T00:00:00+00:00", "--json")
    assert json.loads(later.output) == {"count": 0, "items": []}
    bad = await run("dead-letters", "list", "--since", "yesterday")
    assert bad.exit_code == 2 and "neither an ISO 8601 instant nor a duration" in bad.output


async def test_a_dry_run_shows_the_count_and_changes_nothing(
    conn: Conn,
    services: Services,  # noqa: F811
    tenant: uuid.UUID,  # noqa: F811
    run: Any,
) -> None:
    tasks = await make_dead_letters(conn, services, tenant)

    result = await run("dead-letters", "requeue", "--error-code", "Boom", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert (document["dryRun"], document["count"], len(document["first"])) == (True, 3, 3)
    table = await run("dead-letters", "requeue", "--dry-run")
    assert "dry run: would requeue 4 dead letters; nothing changed" in table.output
    assert [await status_of(conn, t) for t in tasks.values()] == ["DeadLetter"] * 4


async def test_a_bulk_requeue_asks_first_and_requeues_exactly_the_matching_dead_letters(
    conn: Conn,
    services: Services,  # noqa: F811
    tenant: uuid.UUID,  # noqa: F811
    run: Any,
) -> None:
    tasks = await make_dead_letters(conn, services, tenant)
    args = ["dead-letters", "requeue", "--tenant", str(tenant), "--error-code", "Boom"]

    declined = await run(*args, input="n\n")
    assert declined.exit_code == 1
    assert "2 dead letters match." in declined.output
    assert await status_of(conn, tasks["mail_boom"]) == "DeadLetter"

    accepted = await run(*args, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert accepted.output.splitlines()[-1] == "requeued 2, skipped 0"
    statuses = {name: await status_of(conn, t) for name, t in tasks.items()}
    assert statuses == {
        "mail_boom": "Queued",
        "pdf_boom": "Queued",
        "mail_timeout": "DeadLetter",
        "other_boom": "DeadLetter",
    }

    again = await run(*args, "--yes", "--json")
    assert json.loads(again.output) == {"requeued": 0, "skipped": 0}


async def test_a_bulk_requeue_reopens_the_batch_of_a_dead_child(
    conn: Conn,
    services: Services,  # noqa: F811
    make_batch: MakeBatch,  # noqa: F811
    run: Any,
) -> None:
    batch = await make_batch(1, max_attempts=1)
    [child] = [
        row[0]
        for row in await (
            await conn.execute("SELECT id FROM tasks WHERE parent_id = %s", (batch.id,))
        ).fetchall()
    ]
    await dead_letter(services, {child: "Boom"})
    assert (await batch_row(conn, batch.id))["status"] == "DeadLetter"

    result = await run("dead-letters", "requeue", "--tenant", str(batch.tenant_id), "--yes")
    # The batch itself is a dead letter too, but it is not requeued: its child is.
    assert result.output.splitlines()[-1] == "requeued 1, skipped 1"
    row = await batch_row(conn, batch.id)
    assert (row["status"], row["generation"], row["remaining"]) == ("Created", 2, 1)


async def test_health_is_ok_with_a_maintenance_leader_and_fails_without_one(
    database_url: str, run: Any
) -> None:
    result = await run("health", "--json")
    assert result.exit_code == 1, result.output
    document = json.loads(result.output)
    assert document["status"] == "unavailable"
    checks = document["checks"]
    assert (checks["postgres"]["status"], checks["migrations"]["status"]) == ("up", "up")
    assert checks["outbox"]["status"] == "up" and "lagSeconds" in checks["outbox"]
    assert checks["maintenanceLeader"]["status"] == "down"

    leader = AdvisoryLeadership(
        database_url, lock_query=query("maintenance_try_lead"), application_name="test-leader"
    )
    assert await leader.try_lead()
    try:
        table = await run("health")
        assert table.exit_code == 0, table.output
        assert "maintenanceLeader" in table.output and table.output.endswith("healthy\n")
    finally:
        await leader.resign()


async def test_health_names_the_pending_migrations(conn: Conn, run: Any) -> None:
    await conn.execute("DELETE FROM schema_migrations WHERE version = 16")
    result = await run("health", "--json")
    assert result.exit_code == 1
    migrations = json.loads(result.output)["checks"]["migrations"]
    assert (migrations["status"], migrations["pending"]) == ("down", ["0016"])


async def test_health_fails_when_postgres_does_not_answer(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none?connect_timeout=1",
        "LOG_DIR": str(tmp_path),
        "LOG_CONSOLE": "false",
    }
    result = await asyncio.to_thread(CliRunner().invoke, main, ["health", "--json"], env=env)
    assert result.exit_code == 1, result.output
    assert json.loads(result.output)["checks"]["postgres"]["status"] == "down"
