"""Anonymous GET /health shares one recent check instead of querying per call."""

from __future__ import annotations

import asyncio

import httpx


async def test_health_calls_within_a_second_share_one_check(
    anonymous: httpx.AsyncClient,
) -> None:
    await asyncio.sleep(1.1)  # the start-up probe's report is too old now
    answers = await asyncio.gather(*(anonymous.get("/health") for _ in range(20)))
    assert {response.status_code for response in answers} == {200}
    # Each run times its checks to 0.1 ms: one run, one set of timings.
    timings = {str(response.json()["checks"]) for response in answers}
    assert len(timings) == 1
    assert {response.headers["age"] for response in answers} == {"0"}
