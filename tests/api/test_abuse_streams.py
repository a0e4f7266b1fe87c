"""Open SSE streams are capped per API key, per tenant and per process; opens that
arrive together are counted before any of them waits, and every end frees a place."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from app.api import streams
from app.application.auth import issue_key
from app.bootstrap import running_services, tenant_repository
from app.config import load_settings
from tests.api.conftest import Caller, assert_problem

SSE = {"Accept": "text/event-stream"}


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    return {"sse_max_streams_per_key": 5, "sse_max_streams_per_tenant": 7, "sse_max_streams": 9}


async def open_stream(client: httpx.AsyncClient) -> httpx.Response:
    request = client.build_request("GET", "/api/v1/events", headers=SSE)
    return await client.send(request, stream=True)


async def open_many(client: httpx.AsyncClient, count: int) -> list[httpx.Response]:
    return list(await asyncio.gather(*(open_stream(client) for _ in range(count))))


async def close_all(responses: list[httpx.Response]) -> None:
    for response in responses:
        await response.aclose()


def open_in_process() -> int:
    assert streams._hub is not None
    return streams._hub.open_streams


async def until_all_closed() -> None:
    for _ in range(100):
        if open_in_process() == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{open_in_process()} streams still counted")


async def test_simultaneous_opens_cannot_pass_the_per_key_cap(acme: Caller) -> None:
    responses = await open_many(acme.http, 30)
    statuses = sorted(response.status_code for response in responses)
    await close_all(responses)
    assert statuses == [200] * 5 + [429] * 25


async def test_a_key_gets_a_place_again_once_a_stream_closes(acme: Caller) -> None:
    held = await open_many(acme.http, 5)
    refused = await open_stream(acme.http)
    await refused.aread()
    problem = assert_problem(refused, 429)
    assert "5 open streams per API key" in problem["detail"]
    assert refused.headers["retry-after"] == "5"
    await held[0].aclose()
    await asyncio.sleep(0.2)  # the server sees the disconnect
    again = await open_stream(acme.http)
    assert again.status_code == 200
    await close_all([*held[1:], again])


async def another_key(caller: Caller, database_url: str) -> httpx.AsyncClient:
    """A second key of the caller's tenant, and a client that sends it."""
    settings = load_settings(database_url=database_url, log_console=False)
    async with running_services(settings, process="test") as services:
        issued = await issue_key(caller.tenant_id, tenants=tenant_repository(services))
    return httpx.AsyncClient(
        base_url=str(caller.http.base_url),
        headers={"Authorization": f"Bearer {issued.key}"},
        timeout=10,
    )


async def test_a_tenant_and_the_process_have_caps_of_their_own(
    acme: Caller, globex: Caller, database_url: str
) -> None:
    acme_second = await another_key(acme, database_url)
    held = await open_many(acme.http, 5)  # acme's first key at its cap of 5
    more = await open_many(acme_second, 3)
    assert sorted(r.status_code for r in more) == [200, 200, 429]  # the tenant's 7
    refused = next(r for r in more if r.status_code == 429)
    await refused.aread()
    assert "7 open streams per tenant" in assert_problem(refused, 429)["detail"]
    others = await open_many(globex.http, 3)
    assert sorted(r.status_code for r in others) == [200, 200, 429]  # the process's 9
    refused = next(r for r in others if r.status_code == 429)
    await refused.aread()
    assert "as many open streams as it takes" in assert_problem(refused, 429)["detail"]
    await close_all([*held, *more, *others])
    await acme_second.aclose()
    await until_all_closed()


async def test_every_way_a_stream_ends_frees_its_place(acme: Caller) -> None:
    responses = await open_many(acme.http, 5)
    await close_all(responses)  # closed by the client after the first bytes
    await until_all_closed()
    # Dropped before a byte was read: the server still counts them down.
    pending = [asyncio.ensure_future(open_stream(acme.http)) for _ in range(5)]
    await asyncio.sleep(0)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await until_all_closed()
    assert all(r.status_code == 200 for r in await open_many(acme.http, 5))
