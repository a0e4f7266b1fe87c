"""Each API key gets its own request budget; past it, a 429 problem with Retry-After."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.api.conftest import Caller, assert_problem


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    return {"api_rate_limit_per_second": 1, "api_rate_limit_burst": 3}


async def test_a_key_past_its_budget_gets_429_and_others_do_not(
    acme: Caller, globex: Caller
) -> None:
    statuses = [(await acme.http.get("/api/v1/tasks")).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    problem = assert_problem(limited := await acme.http.get("/api/v1/tasks"), 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert "slow down" in problem["detail"]
    assert (await globex.http.get("/api/v1/tasks")).status_code == 200


async def test_guessing_keys_from_one_address_is_slowed_down(
    anonymous: httpx.AsyncClient,
) -> None:
    started = time.monotonic()
    answers = [
        await anonymous.get("/api/v1/tasks", headers={"Authorization": f"Bearer atk_guess{n}"})
        for n in range(25)
    ]
    elapsed = time.monotonic() - started
    statuses = [answer.status_code for answer in answers]
    assert statuses[:20] == [401] * 20
    limited = next(answer for answer in answers if answer.status_code == 429)
    assert_problem(limited, 429)
    assert int(limited.headers["retry-after"]) >= 1
    # Past the burst of 20, bad keys are looked at no faster than the brake's 2 a second
    # (each 429 is held back a second, in which the brake lets 2 more through).
    assert statuses.count(401) <= 20 + 2 * elapsed + 1
