"""GET /api/v1/usage over real HTTP: the caller's usage per UTC day and model."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.api.conftest import Caller, assert_problem
from tests.factories import insert_task


def today() -> date:
    return datetime.now(UTC).date()


async def record_usage(
    database_url: str,
    tenant_id: uuid.UUID,
    day: date,
    *,
    model: str | None = "gpt-4o-mini",
    tokens_in: int = 100,
    tokens_out: int = 10,
    cost: str | None = "0.001",
    latency_ms: int = 200,
) -> None:
    """A finished task of `tenant_id` with one attempt that ended at noon UTC of `day`."""
    ended = datetime.combine(day, time(12), tzinfo=UTC)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        task_id = await insert_task(conn, tenant_id, status="Succeeded", finished_at=ended)
        await conn.execute(
            "INSERT INTO task_attempts (task_id, attempt_no, worker_id, status, started_at, "
            "ended_at, model, tokens_in, tokens_out, cost, latency_ms) "
            "VALUES (%s, 1, 'worker-1', 'Succeeded', %s, %s, %s, %s, %s, %s::numeric, %s)",
            (task_id, ended, ended, model, tokens_in, tokens_out, cost, latency_ms),
        )


async def usage(caller: Caller, **params: str) -> httpx.Response:
    return await caller.http.get("/api/v1/usage", params=params)


async def test_usage_lists_days_and_models_with_totals(
    acme: Caller, globex: Caller, database_url: str
) -> None:
    day = today() - timedelta(days=2)
    await record_usage(database_url, acme.tenant_id, day, cost="0.25", latency_ms=100)
    await record_usage(database_url, acme.tenant_id, day, cost="0.5", latency_ms=300)
    await record_usage(database_url, acme.tenant_id, day, model="o3-mini", cost=None)
    await record_usage(database_url, acme.tenant_id, today(), model=None, tokens_in=1, cost="1")
    await record_usage(database_url, globex.tenant_id, day, tokens_in=999, cost="9")

    response = await usage(acme)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["items"] == [
        {
            "day": day.isoformat(),
            "model": "gpt-4o-mini",
            "attempts": 2,
            "tokensIn": 200,
            "tokensOut": 20,
            "cost": 0.75,
            "unpricedAttempts": 0,
            "avgLatencyMs": 200,
        },
        {
            "day": day.isoformat(),
            "model": "o3-mini",
            "attempts": 1,
            "tokensIn": 100,
            "tokensOut": 10,
            "cost": None,
            "unpricedAttempts": 1,
            "avgLatencyMs": 200,
        },
        {
            "day": today().isoformat(),
            "model": None,
            "attempts": 1,
            "tokensIn": 1,
            "tokensOut": 10,
            "cost": 1.0,
            "unpricedAttempts": 0,
            "avgLatencyMs": 200,
        },
    ]
    assert body["totals"] == {
        "attempts": 4,
        "tokensIn": 301,
        "tokensOut": 40,
        "cost": 1.75,
        "unpricedAttempts": 1,
    }


async def test_by_default_the_last_30_days_ending_today(acme: Caller, database_url: str) -> None:
    await record_usage(database_url, acme.tenant_id, today() - timedelta(days=29), cost="1")
    await record_usage(database_url, acme.tenant_id, today() - timedelta(days=30), cost="2")

    body = (await usage(acme)).json()

    assert (body["from"], body["to"]) == (
        (today() - timedelta(days=29)).isoformat(),
        today().isoformat(),
    )
    assert [item["cost"] for item in body["items"]] == [1.0]


async def test_from_and_to_are_inclusive(acme: Caller, database_url: str) -> None:
    first, last = date(2026, 1, 10), date(2026, 1, 12)
    for day in (first - timedelta(days=1), first, last, last + timedelta(days=1)):
        await record_usage(database_url, acme.tenant_id, day)

    body = (await usage(acme, **{"from": "2026-01-10", "to": "2026-01-12"})).json()

    assert (body["from"], body["to"]) == ("2026-01-10", "2026-01-12")
    assert [item["day"] for item in body["items"]] == ["2026-01-10", "2026-01-12"]


async def test_nothing_used_is_an_empty_report(acme: Caller) -> None:
    body = (await usage(acme)).json()

    assert body["items"] == []
    assert body["totals"] == {
        "attempts": 0,
        "tokensIn": 0,
        "tokensOut": 0,
        "cost": None,
        "unpricedAttempts": 0,
    }


async def test_pruned_usage_still_counts(acme: Caller, database_url: str) -> None:
    day = today() - timedelta(days=10)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO usage_history (tenant_id, day, model, attempts, tokens_in, tokens_out, "
            "cost, unpriced_attempts, latency_ms, timed_attempts) "
            "VALUES (%s, %s, 'gpt-4o-mini', 3, 30, 3, 0.3, 0, 600, 3)",
            (acme.tenant_id, day),
        )
    await record_usage(database_url, acme.tenant_id, day, tokens_in=10, tokens_out=1, cost="0.1")

    [item] = (await usage(acme)).json()["items"]

    assert (item["attempts"], item["tokensIn"], item["cost"], item["avgLatencyMs"]) == (
        4,
        40,
        0.4,
        200,
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-02-01", "to": "2026-01-31"}, "to"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "to"),
        ({"from": "2026-02-30"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "1999-12-31", "to": "2000-01-02"}, "from"),
        ({"days": "7"}, "days"),
    ],
)
async def test_bad_ranges_are_422_problems(
    acme: Caller, params: dict[str, str], field: str
) -> None:
    problem = assert_problem(await usage(acme, **params), 422)

    assert field in {error["field"] for error in problem["errors"]}


async def test_a_span_of_366_days_is_allowed(acme: Caller) -> None:
    response = await usage(acme, **{"from": "2024-01-01", "to": "2024-12-31"})

    assert response.status_code == 200, response.text


async def test_usage_needs_an_api_key(anonymous: httpx.AsyncClient) -> None:
    assert_problem(await anonymous.get("/api/v1/usage"), 401)


async def test_an_admin_key_may_read_another_tenants_usage(
    admin: Caller, acme: Caller, database_url: str
) -> None:
    await record_usage(database_url, acme.tenant_id, today(), tokens_in=42)

    mine = (await usage(admin)).json()
    theirs = await admin.http.get("/api/v1/usage", headers={"X-Tenant-Id": str(acme.tenant_id)})

    assert mine["items"] == []
    assert theirs.status_code == 200, theirs.text
    assert [item["tokensIn"] for item in theirs.json()["items"]] == [42]


async def test_other_keys_may_not_name_a_tenant(acme: Caller, globex: Caller) -> None:
    response = await acme.http.get("/api/v1/usage", headers={"X-Tenant-Id": str(globex.tenant_id)})

    assert_problem(response, 403)


async def test_usage_is_in_the_openapi_document(anonymous: httpx.AsyncClient) -> None:
    document: dict[str, Any] = (await anonymous.get("/openapi.json")).json()

    operation = document["paths"]["/api/v1/usage"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"from", "to", "X-Tenant-Id"}
    assert "422" in operation["responses"]
