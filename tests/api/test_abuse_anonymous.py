"""What needs no key (/health, /openapi.json, /docs) is rate-limited per client address,
so nobody can spend the process's CPU there anonymously; keyed calls never count."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import Caller, assert_problem


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    return {
        "api_anonymous_per_second": 0.5,
        "api_anonymous_burst": 3,
        "api_refusal_hold_seconds": 0,
    }


async def test_an_address_past_its_anonymous_budget_gets_a_429_problem(
    anonymous: httpx.AsyncClient,
) -> None:
    # The burst is 3 (the fixture's start-up probe may have spent one of them).
    answers = [await anonymous.get(path) for path in ("/health", "/openapi.json") * 3]
    statuses = [response.status_code for response in answers]
    served = statuses.count(200)
    assert 2 <= served <= 3 and statuses == [200] * served + [429] * (6 - served)
    problem = assert_problem(answers[-1], 429)
    assert "without a key" in problem["detail"]
    assert int(answers[-1].headers["retry-after"]) >= 1


async def test_keyed_calls_from_that_address_are_still_served(
    anonymous: httpx.AsyncClient, acme: Caller
) -> None:
    for _ in range(5):
        await anonymous.get("/health")
    assert (await anonymous.get("/health")).status_code == 429
    for _ in range(5):
        assert (await acme.http.get("/api/v1/tasks")).status_code == 200
