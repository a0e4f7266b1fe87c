"""Bad keys are braked without touching good ones; a key's requests in progress are
capped, and hitting the cap costs only that key."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.api.conftest import Caller, assert_problem


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    return {"api_max_in_flight_per_key": 2, "api_rate_limit_per_second": 0}


async def guess(anonymous: httpx.AsyncClient, n: int) -> int:
    headers = {"Authorization": f"Bearer atk_guess{n}"}
    return (await anonymous.get("/api/v1/tasks", headers=headers)).status_code


async def test_a_valid_key_is_served_from_an_address_that_sent_many_bad_keys(
    anonymous: httpx.AsyncClient, acme: Caller
) -> None:
    # Same address (127.0.0.1), as behind a proxy or NAT.
    statuses = [await guess(anonymous, n) for n in range(21)]
    assert statuses[-1] == 429  # the guesser is braked
    assert [(await acme.http.get("/api/v1/tasks")).status_code for _ in range(10)] == [200] * 10


async def test_a_key_with_too_many_requests_in_progress_gets_429_alone(
    acme: Caller, globex: Caller
) -> None:
    flood = [acme.http.get("/api/v1/tasks") for _ in range(30)]
    neighbour = [globex.http.get("/api/v1/tasks") for _ in range(2)]
    answers = await asyncio.gather(*flood, *neighbour)
    acme_statuses = [response.status_code for response in answers[:30]]
    assert set(acme_statuses) == {200, 429}
    limited = next(response for response in answers[:30] if response.status_code == 429)
    assert "At most 2 requests at once" in assert_problem(limited, 429)["detail"]
    assert limited.headers["retry-after"] == "1"
    # Held back for API_REFUSAL_HOLD_SECONDS: a client looping on 429s idles.
    assert limited.elapsed.total_seconds() >= 0.9
    assert [response.status_code for response in answers[30:]] == [200, 200]
    # Every place was given back: a burst of exactly the cap passes.
    pair = await asyncio.gather(*(acme.http.get("/api/v1/tasks") for _ in range(2)))
    assert [response.status_code for response in pair] == [200, 200]
