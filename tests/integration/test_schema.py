"""The schema makes impossible states impossible and lets a DBA read the queue."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from app.adapters.postgres.queries import load_queries
from app.domain.enums import CapabilityType, DomainType, ExecutionType, TaskStatus
from app.domain.task import ALLOWED_TRANSITIONS, STATUS_MEANINGS, holds_lease, is_finished
from tests.factories import insert_task, insert_tenant, leased

Conn = psycopg.AsyncConnection[Any]


async def enum_values(conn: Conn, type_name: str) -> list[str]:
    cursor = await conn.execute(
        "SELECT unnest(enum_range(NULL::" + type_name + "))::text"  # fixed names from the test
    )
    return [row[0] for row in await cursor.fetchall()]


@pytest.mark.parametrize(
    ("type_name", "enum"),
    [
        ("task_status", TaskStatus),
        ("domain_type", DomainType),
        ("capability_type", CapabilityType),
        ("execution_type", ExecutionType),
    ],
)
async def test_database_enums_equal_the_domain_enums(conn: Conn, type_name: str, enum: Any) -> None:
    assert await enum_values(conn, type_name) == [member.value for member in enum]


async def test_the_transition_table_equals_the_domain_state_machine(conn: Conn) -> None:
    rows = await (
        await conn.execute("SELECT from_status::text, to_status::text FROM task_status_transitions")
    ).fetchall()
    expected = {(a.value, b.value) for a, nexts in ALLOWED_TRANSITIONS.items() for b in nexts}
    assert set(rows) == expected


async def test_the_status_table_equals_the_domain_meanings(conn: Conn) -> None:
    rows = await (
        await conn.execute(
            "SELECT status::text, meaning, is_finished, holds_lease FROM task_statuses"
        )
    ).fetchall()
    assert {r[0]: (r[1], r[2], r[3]) for r in rows} == {
        s.value: (STATUS_MEANINGS[s], is_finished(s), holds_lease(s)) for s in TaskStatus
    }


async def test_a_new_task_gets_sane_defaults(conn: Conn) -> None:
    tenant = await insert_tenant(conn)
    task_id = await insert_task(conn, tenant)
    row = await (
        await conn.execute(
            "SELECT status::text, priority, max_attempts, attempt_count, progress, version, "
            "execution_type::text, payload FROM tasks WHERE id = %s",
            (task_id,),
        )
    ).fetchone()
    assert row == ("Queued", 5, 3, 0, 0, 1, "Async", {})


async def test_a_running_task_and_its_lease_come_together(conn: Conn) -> None:
    tenant = await insert_tenant(conn)
    await insert_task(conn, tenant, **leased())
    with pytest.raises(psycopg.errors.CheckViolation, match="tasks_lease_matches_status"):
        await insert_task(conn, tenant, status="Running")
    with pytest.raises(psycopg.errors.CheckViolation, match="tasks_lease_matches_status"):
        await insert_task(conn, tenant, locked_by="worker-1")


async def test_a_finished_task_holds_no_lease(conn: Conn) -> None:
    tenant = await insert_tenant(conn)
    task_id = await insert_task(conn, tenant, **leased())
    with pytest.raises(psycopg.errors.CheckViolation):
        await conn.execute(
            "UPDATE tasks SET status = 'Succeeded', finished_at = now() WHERE id = %s", (task_id,)
        )
    await conn.execute(
        "UPDATE tasks SET status = 'Succeeded', finished_at = now(), locked_by = NULL, "
        "locked_until = NULL, attempt_id = NULL WHERE id = %s",
        (task_id,),
    )


@pytest.mark.parametrize("status", ["Succeeded", "Cancelled", "DeadLetter"])
async def test_a_finished_task_has_a_finish_time(conn: Conn, status: str) -> None:
    tenant = await insert_tenant(conn)
    with pytest.raises(psycopg.errors.CheckViolation, match="tasks_finished_matches_status"):
        await insert_task(conn, tenant, status=status)
    await insert_task(conn, tenant, status=status, finished_at=datetime.now(UTC))


async def test_a_waiting_task_has_no_finish_time(conn: Conn) -> None:
    tenant = await insert_tenant(conn)
    with pytest.raises(psycopg.errors.CheckViolation, match="tasks_finished_matches_status"):
        await insert_task(conn, tenant, status="Queued", finished_at=datetime.now(UTC))


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("priority", 0),
        ("priority", 11),
        ("max_attempts", 0),
        ("progress", 101),
        ("type", "has spaces"),
        ("type", ""),
        ("payload", psycopg.types.json.Jsonb([1, 2])),
        ("timeout_seconds", 0),
    ],
)
async def test_out_of_range_values_are_refused(conn: Conn, column: str, value: object) -> None:
    tenant = await insert_tenant(conn)
    with pytest.raises(psycopg.errors.CheckViolation):
        await insert_task(conn, tenant, **{column: value})


async def test_attempts_cannot_exceed_the_maximum(conn: Conn) -> None:
    tenant = await insert_tenant(conn)
    with pytest.raises(psycopg.errors.CheckViolation, match="tasks_attempts_within_limit"):
        await insert_task(conn, tenant, max_attempts=2, attempt_count=3)


@pytest.mark.parametrize(
    ("column", "value"),
    [("status", "Done"), ("domain_type", "Marketing"), ("capability_type", "LLM_Dreaming")],
)
async def test_values_outside_the_seed_enums_are_refused(
    conn: Conn, column: str, value: str
) -> None:
    tenant = await insert_tenant(conn)
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        await insert_task(conn, tenant, **{column: value})


async def test_idempotency_keys_are_unique_per_tenant_only(conn: Conn) -> None:
    acme, globex = await insert_tenant(conn), await insert_tenant(conn)
    await insert_task(conn, acme, idempotency_key="order-1")
    await insert_task(conn, globex, idempotency_key="order-1")
    with pytest.raises(psycopg.errors.UniqueViolation, match="tasks_idempotency_key_idx"):
        await insert_task(conn, acme, idempotency_key="order-1")


async def test_an_artifact_is_inline_or_referenced_never_both(conn: Conn) -> None:
    task_id = await insert_task(conn, await insert_tenant(conn))
    insert = "INSERT INTO task_artifacts (task_id, kind, content, uri) VALUES (%s, 'text', %s, %s)"
    await conn.execute(insert, (task_id, "hello", None))
    await conn.execute(insert, (task_id, None, "file:///artifacts/a.txt"))
    for content, uri in [("x", "file:///y"), (None, None)]:
        with pytest.raises(psycopg.errors.CheckViolation):
            await conn.execute(insert, (task_id, content, uri))


async def test_an_ended_attempt_has_an_end_time(conn: Conn) -> None:
    task_id = await insert_task(conn, await insert_tenant(conn))
    with pytest.raises(psycopg.errors.CheckViolation):
        await conn.execute(
            "INSERT INTO task_attempts (task_id, attempt_no, worker_id, status) "
            "VALUES (%s, 1, 'w', 'Succeeded')",
            (task_id,),
        )


async def test_queue_overview_counts_by_status_and_type(conn: Conn) -> None:
    tenant = await insert_tenant(conn)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    await insert_task(conn, tenant, scheduled_at=an_hour_ago)
    await insert_task(conn, tenant)
    await insert_task(
        conn, tenant, type="demo.sleep", scheduled_at=datetime.now(UTC) + timedelta(hours=1)
    )
    await insert_task(conn, tenant, **leased())
    rows = await (
        await conn.execute(
            "SELECT status::text, type, tasks, due_now, oldest_waiting_age FROM queue_overview"
        )
    ).fetchall()
    by_key = {(r[0], r[1]): r for r in rows}
    assert by_key[("Queued", "demo.noop")][2:4] == (2, 2)
    assert by_key[("Queued", "demo.noop")][4] >= timedelta(minutes=59)
    assert by_key[("Queued", "demo.sleep")][2:4] == (1, 0)
    assert by_key[("Running", "demo.noop")][2] == 1


async def test_expired_leases_lists_only_leases_that_ran_out(conn: Conn) -> None:
    tenant = await insert_tenant(conn)
    stale = await insert_task(conn, tenant, **leased("frozen-worker", seconds=-60))
    await insert_task(conn, tenant, **leased("healthy-worker", seconds=60, attempt_id=2))
    rows = await (
        await conn.execute("SELECT id, locked_by, expired_for FROM expired_leases")
    ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [(stale, "frozen-worker")]
    assert rows[0][2] >= timedelta(seconds=59)


async def test_tenant_backlog_shows_each_tenants_queue(conn: Conn) -> None:
    acme, globex = await insert_tenant(conn, "acme"), await insert_tenant(conn, "globex")
    await insert_task(conn, acme)
    await insert_task(conn, acme)
    await insert_task(
        conn, acme, status="Failed", scheduled_at=datetime.now(UTC) + timedelta(minutes=5)
    )
    await insert_task(conn, acme, status="DeadLetter", finished_at=datetime.now(UTC))
    await insert_task(conn, globex, **leased())
    rows = await (
        await conn.execute(
            "SELECT tenant, waiting, scheduled, running, retry_due, dead_letter FROM tenant_backlog"
        )
    ).fetchall()
    assert rows == [("acme", 2, 1, 0, 0, 0), ("globex", 0, 0, 1, 0, 0)]


async def test_outbox_messages_shows_pending_then_published(conn: Conn) -> None:
    task_id, tenant_id = uuid.uuid4(), uuid.uuid4()
    message = psycopg.types.json.Jsonb(
        {"eventType": "TaskQueued", "taskId": str(task_id), "tenantId": str(tenant_id)}
    )
    msg_id = (await (await conn.execute("SELECT pgmq.send('outbox', %s)", (message,))).fetchone())[
        0
    ]  # type: ignore[index]
    view = "SELECT id, type, task_id, tenant_id, status, processed_at FROM outbox_messages"
    [pending] = await (await conn.execute(view)).fetchall()
    assert pending[:5] == (msg_id, "TaskQueued", task_id, tenant_id, "Pending")
    assert pending[5] is None
    await conn.execute("SELECT pgmq.archive('outbox', %s::bigint)", (msg_id,))
    [published] = await (await conn.execute(view)).fetchall()
    assert published[4] == "Published" and published[5] is not None


async def test_every_named_query_prepares_against_the_schema(conn: Conn) -> None:
    for name, named in load_queries().items():
        if not re.match(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", named.text, re.IGNORECASE):
            continue  # DDL cannot be prepared; the migration tests run it
        numbered, seen = named.text, {}  # type: ignore[var-annotated]
        for param in re.findall(r"%\((\w+)\)s", named.text):
            seen.setdefault(param, len(seen) + 1)
        for param, index in seen.items():
            numbered = numbered.replace(f"%({param})s", f"${index}")
        try:
            await conn.execute(f"PREPARE check_{name} AS {numbered.rstrip(';')}")  # type: ignore[arg-type]
        except psycopg.Error as error:
            pytest.fail(f"query {name} does not prepare: {error}")


TASK_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
EVENT_TYPE = re.compile(r"Task[A-Z][A-Za-z]+")
CANDIDATE_TYPES = [
    "demo.noop", "a", "A9", "Embedding_Search", "x:y-z.1", "9", "a" * 100, "a" * 101, "",
    "_lead", ".dot", "-dash", ":colon", "with space", "tab\there", "ação", "a/b", "a$",
    "a\nb", "ümlaut", "TaskRunning", "Task", "TaskR", "Taskrunning", "taskRunning",
    "TaskRunning2", "TaskRun_ning", "TasKQueued", "Task Queued", "TaskÉvent",
]  # fmt: skip


async def accepted(conn: Conn, statement: str, params: tuple[Any, ...]) -> bool:
    try:
        async with conn.transaction():
            await conn.execute(statement, params)
            raise _Undo
    except psycopg.errors.CheckViolation:
        return False
    except _Undo:
        return True


class _Undo(Exception):
    """Rolls back a probe that succeeded."""


async def test_the_task_type_rule_is_the_documented_pattern(conn: Conn) -> None:
    tenant = await insert_tenant(conn)
    for candidate in CANDIDATE_TYPES:
        ok = await accepted(
            conn, "INSERT INTO tasks (tenant_id, type) VALUES (%s, %s)", (tenant, candidate)
        )
        assert ok == bool(TASK_TYPE.fullmatch(candidate)), candidate


async def test_the_event_type_rule_is_the_documented_pattern(conn: Conn) -> None:
    tenant = await insert_tenant(conn)
    task = await insert_task(conn, tenant)
    for n, candidate in enumerate(CANDIDATE_TYPES, start=2):
        ok = await accepted(
            conn,
            "INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status)"
            " VALUES (%s, %s, %s, %s, 'Queued')",
            (task, tenant, n, candidate),
        )
        assert ok == bool(EVENT_TYPE.fullmatch(candidate)), candidate
