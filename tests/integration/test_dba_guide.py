"""The DBA guide (sql/README.md) runs: every query in it, against a migrated database.

Each ```sql block is split into statements (each ends with `;` at the end of a line),
its `:'name'` psql variables become literals (ids of the rows inserted first), and its
`BEGIN` / `COMMIT` become a savepoint and its release, so the whole guide runs in one
transaction that the test rolls back.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tests.factories import insert_task, insert_tenant, leased

Conn = psycopg.AsyncConnection[Any]

GUIDE = Path(__file__).resolve().parents[2] / "sql" / "README.md"
BLOCK = re.compile(r"^```sql\n(.*?)^```", re.MULTILINE | re.DOTALL)
VARIABLE = re.compile(r":'(\w+)'")
TRANSACTION = {"BEGIN;": "SAVEPOINT guide;", "COMMIT;": "RELEASE SAVEPOINT guide;"}
NOW = datetime.now(UTC)


def guide_statements(text: str) -> list[str]:
    """Every statement of every ```sql block, in order."""
    statements: list[str] = []
    for block in BLOCK.findall(text):
        lines: list[str] = []
        for line in block.splitlines():
            lines.append(line)
            if line.rstrip().endswith(";"):
                statements.append("\n".join(lines).strip())
                lines = []
        rest = [line for line in lines if line.strip() and not line.strip().startswith("--")]
        assert not rest, f"a statement in the guide does not end with ';': {rest}"
    return statements


def code(statement: str) -> str:
    """The statement without its comment lines."""
    return "\n".join(
        line for line in statement.splitlines() if not line.strip().startswith("--")
    ).strip()


def bind(statement: str, values: dict[str, str]) -> str:
    """The statement as psql runs it after `\\set`: each :'name' a quoted literal."""
    statement = TRANSACTION.get(code(statement), statement)

    def literal(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"the guide uses :'{name}', which the test does not set"
        return "'" + values[name].replace("'", "''") + "'"

    return VARIABLE.sub(literal, statement)


@dataclass
class Seeded:
    tenant: uuid.UUID
    dead_child: uuid.UUID
    batch: uuid.UUID
    dead_alone: uuid.UUID
    overdue: uuid.UUID
    expired: uuid.UUID
    parked: uuid.UUID


async def seed(conn: Conn) -> Seeded:
    """A queue with something in every corner the guide looks at."""
    tenant = await insert_tenant(conn, "acme")
    overdue = await insert_task(
        conn, tenant, type="demo.overdue", scheduled_at=NOW - timedelta(hours=1)
    )
    expired = await insert_task(
        conn,
        tenant,
        type="demo.slow",
        attempt_started_at=NOW - timedelta(minutes=5),
        **leased("worker-gone", seconds=-120, attempt_id=41),
    )
    # A parked approval whose deadline passed ten minutes ago, and a task awaiting a signal.
    parked = await insert_task(
        conn,
        tenant,
        type="demo.approve",
        status="Created",
        wait_reason="decision",
        execution_type="HumanInLoop",
    )
    await conn.execute(
        "INSERT INTO task_waits (task_id, tenant_id, kind, wait_key, question, deadline_at,"
        " on_deadline) VALUES (%s, %s, 'approval', 'decision', 'Pay it?', %s, 'reject')",
        (parked, tenant, NOW - timedelta(minutes=10)),
    )
    awaiting = await insert_task(
        conn,
        tenant,
        type="demo.ship",
        status="Created",
        wait_reason="signal",
        execution_type="EventDriven",
    )
    await conn.execute(
        "INSERT INTO task_waits (task_id, tenant_id, kind, wait_key, signal_name, signal_key,"
        " on_deadline) VALUES (%s, %s, 'signal', 'signal:paid:order-1', 'paid', 'order-1', 'run')",
        (awaiting, tenant),
    )
    # A batch of one child, dead-lettered after three failed attempts: the batch ended.
    batch = await insert_task(
        conn,
        tenant,
        type="batch",
        execution_type="Batch",
        status="DeadLetter",
        wait_reason="children",
        finished_at=NOW,
    )
    await conn.execute(
        "INSERT INTO task_groups (parent_id, tenant_id, kind, total, remaining, dead_lettered,"
        " completed_at) VALUES (%s, %s, 'batch', 1, 0, 1, now())",
        (batch, tenant),
    )
    dead_child = await dead_letter(conn, tenant, parent_id=batch)
    dead_alone = await dead_letter(conn, tenant)
    return Seeded(tenant, dead_child, batch, dead_alone, overdue, expired, parked)


async def dead_letter(conn: Conn, tenant: uuid.UUID, **overrides: Any) -> uuid.UUID:
    """A demo.flaky task dead-lettered after three failed attempts, with its timeline."""
    task = await insert_task(
        conn,
        tenant,
        type="demo.flaky",
        status="DeadLetter",
        finished_at=NOW,
        attempt_count=3,
        max_attempts=3,
        last_error="provider said 500",
        version=4,
        **overrides,
    )
    for attempt in (1, 2, 3):
        await conn.execute(
            "INSERT INTO task_attempts (task_id, attempt_no, worker_id, status, started_at,"
            " ended_at, error_code, error_detail) VALUES (%s, %s, 'worker-1', 'Failed', %s, %s,"
            " 'ProviderError', 'provider said 500')",
            (task, attempt, NOW - timedelta(minutes=attempt + 1), NOW - timedelta(minutes=attempt)),
        )
    for sequence, event, status in (
        (1, "TaskQueued", "Queued"),
        (2, "TaskFailed", "Failed"),
        (3, "TaskFailed", "Failed"),
        (4, "TaskDeadLettered", "DeadLetter"),
    ):
        await conn.execute(
            "INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, attempt,"
            " detail) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                task,
                tenant,
                sequence,
                event,
                status,
                min(sequence, 3),
                Jsonb({"errorCode": "ProviderError"} if sequence > 1 else {}),
            ),
        )
    return task


async def run_guide(conn: Conn, values: dict[str, str]) -> list[tuple[str, list[Any]]]:
    """Run every statement of the guide in order; each one's text and rows."""
    results: list[tuple[str, list[Any]]] = []
    for statement in guide_statements(GUIDE.read_text()):
        try:
            cursor = await conn.execute(bind(statement, values))
        except psycopg.Error as error:
            raise AssertionError(f"the guide's query failed:\n{statement}\n{error}") from error
        rows = await cursor.fetchall() if cursor.description else []
        results.append((statement, rows))
    return results


def rows_of(results: list[tuple[str, list[Any]]], comment: str) -> list[Any]:
    """The rows of the statement introduced by `comment`."""
    found = [rows for statement, rows in results if comment in statement]
    assert len(found) == 1, f"{len(found)} statements of the guide say {comment!r}"
    return found[0]


async def status_of(conn: Conn, task: uuid.UUID) -> str:
    row = await (await conn.execute("SELECT status FROM tasks WHERE id = %s", (task,))).fetchone()
    assert row is not None
    return str(row[0])


async def test_every_query_of_the_guide_runs_and_finds_what_is_there(conn: Conn) -> None:
    seeded = await seed(conn)
    values = {
        "task_id": str(seeded.dead_child),
        "tenant_id": str(seeded.tenant),
        "batch_id": str(seeded.batch),
        "saga_id": str(uuid.uuid4()),
        "task_type": "demo.flaky",
    }

    async with conn.transaction(force_rollback=True):
        results = await run_guide(conn, values)

        assert len(results) >= 60
        # What is stuck: the expired lease, the overdue task, the parked task past its
        # deadline and the outbox's pending events are all found.
        assert [r[0] for r in rows_of(results, "Leases that ran out, oldest first")] == [
            seeded.expired
        ]
        assert rows_of(results, "Due for more than five minutes")[0][:1] == ("demo.overdue",)
        assert [r[0] for r in rows_of(results, "Parked tasks whose deadline passed")] == [
            seeded.parked
        ]
        assert rows_of(results, "Outbox lag")[0][0] > 0
        # Why a task failed: its three attempts and four events.
        assert len(rows_of(results, "Its attempts, the running one included")) == 3
        assert len(rows_of(results, "Its timeline.")) == 4
        # What a tenant waits on: the approval and the signal.
        by_reason = {r[0]: r[2] for r in rows_of(results, "parked tasks by reason")}
        assert by_reason == {"decision": 1, "signal": 1}
        # The requeues: the dead child first (its batch reopened in the same
        # transaction), then the other dead letter of its type by the bulk statement.
        assert rows_of(results, "What was requeued, and its batch now") == [
            (seeded.dead_child, "DeadLetter", seeded.batch, "Created", 1, 2)
        ]
        assert rows_of(results, "SELECT count(*) AS requeued FROM requeued_many") == [(1,)]
        assert await status_of(conn, seeded.dead_child) == "Queued"
        assert await status_of(conn, seeded.dead_alone) == "Queued"
        group = await (
            await conn.execute(
                "SELECT remaining, dead_lettered, generation FROM task_groups WHERE parent_id = %s",
                (seeded.batch,),
            )
        ).fetchone()
        assert group == (1, 0, 2)
        requeued = await (
            await conn.execute(
                "SELECT event_type, sequence, detail ->> 'requestedBy' FROM task_events"
                " WHERE task_id = %s ORDER BY sequence DESC LIMIT 1",
                (seeded.dead_child,),
            )
        ).fetchone()
        assert requeued == ("TaskRequeued", 5, "dba:postgres")

    # Rolled back: the guide left nothing behind.
    assert await status_of(conn, seeded.dead_child) == "DeadLetter"
    assert await status_of(conn, seeded.batch) == "DeadLetter"


async def test_the_requeue_leaves_a_locked_row_alone(conn: Conn, database_url: str) -> None:
    seeded = await seed(conn)
    statements = guide_statements(GUIDE.read_text())
    codes = [code(statement) for statement in statements]
    start = codes.index("BEGIN;")
    one_task = statements[start : codes.index("COMMIT;", start) + 1]
    values = {"task_id": str(seeded.dead_alone)}

    async with await psycopg.AsyncConnection.connect(database_url) as holder:
        await holder.execute("SELECT 1 FROM tasks WHERE id = %s FOR UPDATE", (seeded.dead_alone,))
        async with conn.transaction(force_rollback=True):
            requeued = None
            for statement in one_task:
                cursor = await conn.execute(bind(statement, values))
                if "What was requeued" in statement:
                    requeued = await cursor.fetchall()
            assert requeued == []
        await holder.rollback()
    assert await status_of(conn, seeded.dead_alone) == "DeadLetter"


async def test_the_guide_names_every_table_view_and_index(conn: Conn) -> None:
    text = GUIDE.read_text()
    cursor = await conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'v', 'i') AND (n.nspname = 'public'"
        "   OR (n.nspname = 'pgmq' AND c.relname ~ '_outbox$|outbox_held'))"
    )
    names = [row[0] for row in await cursor.fetchall()]
    assert "tasks_claim_idx" in names and "q_outbox" in names
    assert [name for name in names if f"`{name}" not in text and f".{name}`" not in text] == []


def test_every_variable_the_guide_uses_is_set_at_its_top() -> None:
    text = GUIDE.read_text()
    used = {name for block in BLOCK.findall(text) for name in VARIABLE.findall(block)}
    declared = set(re.findall(r"^\\set (\w+)", text, re.MULTILINE))
    assert used and used <= declared
