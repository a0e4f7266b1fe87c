"""A signal flood from one tenant is refused at its budget (API_SIGNALS_PER_SECOND, all
its keys together) and cannot starve another tenant's signals."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from app.adapters.postgres.tenant_repository import PgTenantRepository
from app.application.auth import issue_key
from app.bootstrap import Services
from tests.api.conftest import Caller, acme, assert_problem, base_url, globex
from tests.waits.signal_http import (
    Conn,
    post_task,
    signal_handlers,
    wait_parked,
    wait_task,
    waiting_task,
)
from tests.workers.conftest import StartWorker

__all__ = ["acme", "base_url", "globex"]  # fixtures: the real API under Hypercorn

RATE, BURST = 5.0, 10.0


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    # A small signal budget; the per-key request rate and requests in progress out of
    # the way, so any refusal below is the signal budget's. 429s answered at once.
    return {
        "api_signals_per_second": RATE,
        "api_signals_burst": BURST,
        "api_rate_limit_per_second": 10_000.0,
        "api_rate_limit_burst": 10_000.0,
        "api_max_in_flight_per_key": 0,
        "api_refusal_hold_seconds": 0.0,
    }


async def flood(clients: list[httpx.AsyncClient], count: int) -> list[httpx.Response]:
    """`count` signals, spread over `clients`, 16 at a time."""
    gate = asyncio.Semaphore(16)

    async def one(n: int) -> httpx.Response:
        async with gate:
            body = {"name": "flood", "key": f"k-{n}", "data": {"n": n}}
            return await clients[n % len(clients)].post("/api/v1/signals", json=body)

    return await asyncio.gather(*(one(n) for n in range(count)))


async def test_a_tenant_flooding_signals_gets_429s_and_another_tenants_still_resume(
    acme: Caller,
    globex: Caller,
    base_url: str,
    services: Services,
    conn: Conn,
    start_worker: StartWorker,
) -> None:
    # acme floods with two keys: the budget is the tenant's, not each key's.
    second = await issue_key(acme.tenant_id, tenants=PgTenantRepository(services.pool))
    headers = {"Authorization": f"Bearer {second.key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as other_key:
        await start_worker(signal_handlers())
        task_id = await post_task(globex, waiting_task("payment", "order-1"))
        await wait_parked(conn, task_id)

        began = time.monotonic()
        flooding = asyncio.create_task(flood([acme.http, other_key], 200))
        await asyncio.sleep(0.05)  # the flood is under way
        sent_at = time.monotonic()
        theirs = await globex.http.post(
            "/api/v1/signals", json={"name": "payment", "key": "order-1", "data": {"eur": 1}}
        )
        assert theirs.status_code == 201, theirs.text
        assert theirs.json()["resumed"] == 1
        done = await wait_task(globex, task_id, {"Succeeded"})
        resumed_in = time.monotonic() - sent_at
        answers = await flooding
        elapsed = time.monotonic() - began

    statuses = Counter(r.status_code for r in answers)
    assert set(statuses) == {201, 429}, statuses
    assert statuses[201] <= BURST + RATE * elapsed + 1  # the tenant's budget, both keys
    refused = next(r for r in answers if r.status_code == 429)
    problem = assert_problem(refused, 429)
    assert "signals for this tenant" in problem["detail"]
    assert int(refused.headers["retry-after"]) >= 1
    assert done["result"]["data"] == {"eur": 1}
    assert resumed_in < 3.0, resumed_in
    kept = await conn.execute(
        "SELECT count(*) FROM signals WHERE tenant_id = %s", (acme.tenant_id,)
    )
    assert await kept.fetchone() == (statuses[201],)  # a refused signal was never kept
