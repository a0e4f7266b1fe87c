"""usage_daily sums attempts per tenant, UTC day and model, and keeps them after a prune."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from app.adapters.postgres.queries import query
from tests.factories import insert_task, insert_tenant

Conn = psycopg.AsyncConnection[Any]

DAY_1 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY_2 = DAY_1 + timedelta(days=1)
VIEW = (
    "SELECT tenant_id, day, model, attempts, tokens_in, tokens_out, cost, unpriced_attempts, "
    "avg_latency_ms FROM usage_daily ORDER BY tenant_id, day, model"
)


async def insert_attempt(
    conn: Conn,
    task_id: uuid.UUID,
    *,
    ended_at: datetime = DAY_1,
    model: str | None = None,
    tokens_in: int | None = None,
    tokens_out: int | None = None,
    cost: str | None = None,
    latency_ms: int | None = 100,
    status: str = "Succeeded",
) -> None:
    """An ended attempt (cost as a decimal string, as stored)."""
    await conn.execute(
        "INSERT INTO task_attempts (task_id, attempt_no, worker_id, status, started_at, ended_at, "
        "model, tokens_in, tokens_out, cost, latency_ms) "
        "VALUES (%s, 1, 'worker-1', %s, %s, %s, %s, %s, %s, %s::numeric, %s)",
        (
            task_id,
            status,
            ended_at - timedelta(seconds=1),
            ended_at,
            model,
            tokens_in,
            tokens_out,
            cost,
            latency_ms,
        ),
    )


async def finished_task(conn: Conn, tenant_id: uuid.UUID, *, days_ago: float = 10) -> uuid.UUID:
    finished = datetime.now(UTC) - timedelta(days=days_ago)
    return await insert_task(conn, tenant_id, status="Succeeded", finished_at=finished)


async def usage_rows(conn: Conn) -> list[tuple[Any, ...]]:
    return await (await conn.execute(VIEW)).fetchall()


async def prune(conn: Conn, *, retention_days: float = 7) -> int:
    seconds = retention_days * 86_400
    cursor = await conn.execute(
        query("task_prune_finished"),
        {"retention_seconds": seconds, "dead_letter_retention_seconds": seconds, "limit": 500},
    )
    return cursor.rowcount


async def test_usage_is_summed_by_tenant_day_and_model(conn: Conn) -> None:
    acme, globex = await insert_tenant(conn, "acme"), await insert_tenant(conn, "globex")
    one, two = await finished_task(conn, acme), await finished_task(conn, acme)
    await insert_attempt(conn, one, model="gpt-4o-mini", tokens_in=100, tokens_out=10, cost="0.001")
    await insert_attempt(
        conn, two, model="gpt-4o-mini", tokens_in=200, tokens_out=20, cost="0.002", latency_ms=300
    )
    await insert_attempt(conn, two, model="o3-mini", tokens_in=50, tokens_out=5, cost="0.01")
    await insert_attempt(
        conn, one, ended_at=DAY_2, model="gpt-4o-mini", tokens_in=1, tokens_out=1, cost="0"
    )
    other = await finished_task(conn, globex)
    await insert_attempt(conn, other, model="gpt-4o-mini", tokens_in=7, tokens_out=3, cost="0.5")

    rows = {(r[0], r[1], r[2]): r[3:] for r in await usage_rows(conn)}

    assert rows == {
        (acme, DAY_1.date(), "gpt-4o-mini"): (2, 300, 30, Decimal("0.003"), 0, 200),
        (acme, DAY_1.date(), "o3-mini"): (1, 50, 5, Decimal("0.01"), 0, 100),
        (acme, DAY_2.date(), "gpt-4o-mini"): (1, 1, 1, Decimal("0"), 0, 100),
        (globex, DAY_1.date(), "gpt-4o-mini"): (1, 7, 3, Decimal("0.5"), 0, 100),
    }


async def test_an_attempt_without_a_cost_is_counted_as_unpriced(conn: Conn) -> None:
    tenant = await insert_tenant(conn)
    task = await finished_task(conn, tenant)
    await insert_attempt(conn, task, model="local-llama", tokens_in=40, tokens_out=4)
    await insert_attempt(conn, task, model="gpt-4o-mini", tokens_in=10, tokens_out=1)
    await insert_attempt(conn, task, model="gpt-4o-mini", tokens_in=10, tokens_out=1, cost="0.2")

    rows = {r[2]: r[3:8] for r in await usage_rows(conn)}

    # Nothing priced: the cost is unknown (NULL), not zero.
    assert rows["local-llama"] == (1, 40, 4, None, 1)
    assert rows["gpt-4o-mini"] == (2, 20, 2, Decimal("0.2"), 1)


async def test_attempts_without_usage_are_not_usage(conn: Conn) -> None:
    tenant = await insert_tenant(conn)
    task = await finished_task(conn, tenant)
    # A lost attempt and one of a handler that called no model: only a measured latency.
    await insert_attempt(conn, task, status="Lost", latency_ms=None)
    await insert_attempt(conn, task, latency_ms=12)
    await insert_attempt(conn, task, tokens_in=5, tokens_out=0)

    rows = await usage_rows(conn)

    assert [(r[2], r[3], r[4]) for r in rows] == [("", 1, 5)]


async def test_days_are_utc_days_whatever_the_session_time_zone(conn: Conn) -> None:
    await conn.execute("SET TIME ZONE 'America/Sao_Paulo'")
    tenant = await insert_tenant(conn)
    task = await finished_task(conn, tenant)
    midnight = datetime(2026, 3, 2, tzinfo=UTC)
    await insert_attempt(conn, task, ended_at=midnight - timedelta(minutes=1), model="m", cost="1")
    await insert_attempt(conn, task, ended_at=midnight, model="m", cost="2")

    rows = await usage_rows(conn)

    assert [(r[1], r[6]) for r in rows] == [
        (date(2026, 3, 1), Decimal("1")),
        (date(2026, 3, 2), Decimal("2")),
    ]


async def test_pruning_folds_usage_into_history_and_the_totals_stay_the_same(
    conn: Conn,
) -> None:
    acme, globex = await insert_tenant(conn, "acme"), await insert_tenant(conn, "globex")
    old, recent = await finished_task(conn, acme), await finished_task(conn, acme, days_ago=1)
    await insert_attempt(conn, old, model="gpt-4o-mini", tokens_in=100, tokens_out=10, cost="0.1")
    await insert_attempt(conn, old, model="gpt-4o-mini", tokens_in=100, tokens_out=10)
    await insert_attempt(conn, old, ended_at=DAY_2, model="o3-mini", tokens_in=9, cost="0.9")
    await insert_attempt(conn, old, status="Lost", latency_ms=None)
    await insert_attempt(conn, recent, model="gpt-4o-mini", tokens_in=1, tokens_out=1, cost="0.01")
    other = await finished_task(conn, globex)
    await insert_attempt(conn, other, model="gpt-4o-mini", tokens_in=3, tokens_out=3, cost="0.3")
    before = await usage_rows(conn)

    assert await prune(conn) == 2

    assert await usage_rows(conn) == before
    left = await (await conn.execute("SELECT task_id FROM task_attempts")).fetchall()
    assert left == [(recent,)]
    history = await (
        await conn.execute(
            "SELECT tenant_id, day, model, attempts, cost, unpriced_attempts, latency_ms, "
            "timed_attempts FROM usage_history ORDER BY tenant_id, day, model"
        )
    ).fetchall()
    assert sorted(history) == sorted(
        [
            (acme, DAY_1.date(), "gpt-4o-mini", 2, Decimal("0.1"), 1, 200, 2),
            (acme, DAY_2.date(), "o3-mini", 1, Decimal("0.9"), 0, 100, 1),
            (globex, DAY_1.date(), "gpt-4o-mini", 1, Decimal("0.3"), 0, 100, 1),
        ]
    )


async def test_a_second_prune_adds_to_the_same_history_row(conn: Conn) -> None:
    tenant = await insert_tenant(conn)
    first = await finished_task(conn, tenant)
    await insert_attempt(conn, first, model="m", tokens_in=10, tokens_out=1, cost="1.5")
    await prune(conn)
    second = await finished_task(conn, tenant)
    await insert_attempt(conn, second, model="m", tokens_in=20, tokens_out=2)
    await insert_attempt(conn, second, model="m", tokens_in=30, tokens_out=3, cost="2.25")
    before = await usage_rows(conn)

    await prune(conn)

    assert await usage_rows(conn) == before
    assert [r[3:8] for r in before] == [(3, 60, 6, Decimal("3.75"), 1)]
    history = await (await conn.execute("SELECT count(*) FROM usage_history")).fetchone()
    assert history == (1,)


async def test_a_group_with_nothing_priced_stays_unpriced_after_the_prune(conn: Conn) -> None:
    tenant = await insert_tenant(conn)
    task = await finished_task(conn, tenant)
    await insert_attempt(conn, task, model="local-llama", tokens_in=40, tokens_out=4)

    await prune(conn)

    [row] = await usage_rows(conn)
    assert row[2:8] == ("local-llama", 1, 40, 4, None, 1)


async def test_the_prune_keeps_tasks_within_their_retention(conn: Conn) -> None:
    tenant = await insert_tenant(conn)
    task = await finished_task(conn, tenant, days_ago=1)
    await insert_attempt(conn, task, model="m", tokens_in=1, cost="1")

    assert await prune(conn) == 0

    history = await (await conn.execute("SELECT count(*) FROM usage_history")).fetchone()
    assert history == (0,)
    assert len(await usage_rows(conn)) == 1
