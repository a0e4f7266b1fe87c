"""The waitingFor listing reads the tenant's waits, not its task history: its plan
starts from task_waits_tenant_idx and reaches tasks by primary key."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from app.adapters.postgres.queries import query

Conn = psycopg.AsyncConnection[Any]


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += nodes(child)
    return found


async def test_the_waiting_list_reads_waits_by_index_however_many_tasks_the_tenant_has(
    conn: Conn, tenant: uuid.UUID
) -> None:
    # 20 000 finished tasks and 20 parked for a decision; another tenant has 5 000 parked.
    other = uuid.uuid4()
    await conn.execute("INSERT INTO tenants (id, name) VALUES (%s, 'other')", (other,))
    await conn.execute(
        "INSERT INTO tasks (tenant_id, type, status, finished_at)"
        " SELECT %s, 'demo.noop', 'Succeeded', now() FROM generate_series(1, 20000)",
        (tenant,),
    )
    for owner, count in ((tenant, 20), (other, 5000)):
        await conn.execute(
            "WITH parked AS ("
            " INSERT INTO tasks (tenant_id, type, status, wait_reason)"
            " SELECT %(owner)s, 'gated', 'Created', 'decision'"
            " FROM generate_series(1, %(count)s) RETURNING id)"
            " INSERT INTO task_waits (task_id, tenant_id, kind, wait_key, question, on_deadline)"
            " SELECT id, %(owner)s, 'approval', 'approval', 'Go?', 'reject' FROM parked",
            {"owner": owner, "count": count},
        )
    await conn.execute("ANALYZE tasks")
    await conn.execute("ANALYZE task_waits")
    params = {
        "tenant_id": tenant,
        "kinds": ["approval", "input"],
        "status": None,
        "type": None,
        "domain_type": None,
        "capability_type": None,
        "limit": 20,
        "offset": 0,
    }
    cursor = await conn.execute(
        "EXPLAIN (ANALYZE, FORMAT JSON) " + query("task_list_waiting"),  # type: ignore[operator]
        params,
    )
    row = await cursor.fetchone()
    assert row is not None
    plan = nodes(row[0][0]["Plan"])
    scans = {(n.get("Relation Name"), n["Node Type"], n.get("Index Name")) for n in plan}
    waits_read = {(t, i) for r, t, i in scans if r == "task_waits"}
    assert waits_read == {("Index Scan", "task_waits_tenant_idx")}, scans
    assert not any(n.get("Relation Name") == "tasks" and "Seq" in n["Node Type"] for n in plan)
    read_from_tasks = sum(
        n.get("Actual Rows", 0) * n.get("Actual Loops", 1)
        for n in plan
        if n.get("Relation Name") == "tasks"
    )
    assert read_from_tasks <= 20
