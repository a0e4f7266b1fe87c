"""Held tasks cost the claim nothing: the claim's partial index does not contain them."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg

from app.adapters.postgres.queries import query
from tests.batches.conftest import MakeBatch

Conn = psycopg.AsyncConnection[Any]


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += nodes(child)
    return found


async def test_the_claim_reads_only_claimable_rows_however_many_tasks_are_held(
    conn: Conn, tenant: uuid.UUID, make_batch: MakeBatch
) -> None:
    # 5 000 tasks held on the first one, and their batch: 5 000 rows in Created.
    await make_batch(5_000, depends_on={n: [0] for n in range(1, 5_000)})
    await conn.execute(
        "INSERT INTO tasks (tenant_id, type) SELECT %s, 'demo.noop' FROM generate_series(1, 10)",
        (tenant,),
    )
    await conn.execute("ANALYZE tasks")
    claim = query("task_lease_available").replace("%(limit)s", "100")
    claim = claim.replace("%(worker_id)s", "'w'").replace("%(lease_seconds)s", "30")
    async with conn.transaction(force_rollback=True):
        cursor = await conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + claim)  # type: ignore[operator]
        [(document,)] = await cursor.fetchall()
    plan = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
    # The rows the claim reads (not the Tid Scan that then updates them by address).
    reads = {"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"}
    scans = [
        n for n in nodes(plan) if n["Node Type"] in reads and n.get("Relation Name") == "tasks"
    ]
    assert [(n["Node Type"], n.get("Index Name")) for n in scans] == [
        ("Index Scan", "tasks_claim_idx")
    ]
    assert scans[0]["Actual Rows"] == 11  # the first child and the ten tasks of their own
