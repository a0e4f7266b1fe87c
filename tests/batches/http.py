"""The real API under Hypercorn for batch tests, and callers of two tenants."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.api.server import serve_api
from app.bootstrap import build_api, build_services
from app.config import load_settings
from tests.api.conftest import Caller, free_port, new_caller

__all__ = ["Caller", "acme", "base_url", "globex", "wait_batch"]


@pytest.fixture
async def base_url(database_url: str, tmp_path: Any) -> AsyncIterator[str]:
    """The real app under Hypercorn, with the default body limit (a 10 000-task batch
    needs more than the API tests' 64 KiB)."""
    settings = load_settings(log_dir=tmp_path, log_console=False)
    app = build_api(build_services(settings, process="api", url=database_url))
    port = free_port()
    stop = asyncio.Event()
    server = asyncio.create_task(serve_api(app, host="127.0.0.1", port=port, stop=stop))
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url) as probe:
        for _ in range(100):
            try:
                if (await probe.get("/health")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    yield url
    stop.set()
    await asyncio.wait_for(server, timeout=15)


@pytest.fixture
async def acme(database_url: str, base_url: str) -> AsyncIterator[Caller]:
    caller = await new_caller(database_url, base_url, "acme")
    yield caller
    await caller.http.aclose()


@pytest.fixture
async def globex(database_url: str, base_url: str) -> AsyncIterator[Caller]:
    caller = await new_caller(database_url, base_url, "globex")
    yield caller
    await caller.http.aclose()


async def wait_batch(caller: Caller, batch_id: str, statuses: set[str]) -> dict[str, Any]:
    """Poll GET /batches/{id} until its status is one of `statuses`."""
    body: dict[str, Any] = {}
    for _ in range(400):
        body = (await caller.http.get(f"/api/v1/batches/{batch_id}")).json()
        if body.get("status") in statuses:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"batch {batch_id} never reached {statuses}: {body}")
