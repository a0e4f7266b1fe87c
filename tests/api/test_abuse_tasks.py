"""A key's budget counts tasks, not requests: a batch of 500 costs what 500 single POSTs
do, so one tenant's batches cannot take the process from the others."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Caller, assert_problem


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    return {"api_tasks_per_second": 10, "api_tasks_burst": 500, "api_refusal_hold_seconds": 0}


def batch(size: int) -> dict[str, Any]:
    return {"tasks": [{"type": "demo.noop"} for _ in range(size)]}


async def test_a_batch_spends_one_token_per_task(acme: Caller, globex: Caller) -> None:
    assert (await acme.http.post("/api/v1/tasks/batch", json=batch(490))).status_code == 202
    refused = await acme.http.post("/api/v1/tasks/batch", json=batch(50))
    problem = assert_problem(refused, 429)
    assert "tasks queued with this API key" in problem["detail"]
    assert int(refused.headers["retry-after"]) >= 4  # 40 tasks short at 10 a second
    # What is left (about 10) still buys single tasks; the other tenant has its own.
    assert (await acme.http.post("/api/v1/tasks", json={"type": "demo.noop"})).status_code == 202
    assert (await globex.http.post("/api/v1/tasks/batch", json=batch(490))).status_code == 202
    listed = await acme.http.get("/api/v1/tasks")
    assert listed.headers["x-total-count"] == "491"  # the refused batch stored nothing
