"""API tests run the real app under Hypercorn on a free port and talk HTTP to it."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.adapters.postgres.tenant_repository import PgTenantRepository
from app.api.server import serve_api
from app.application.auth import create_tenant
from app.bootstrap import build_api, build_services, running_services
from app.config import load_settings
from tests.workers.conftest import start_worker

__all__ = ["start_worker"]  # worker fixtures, for tests that run the API beside a worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Caller:
    """A tenant and an HTTP client that sends its key."""

    tenant_id: uuid.UUID
    key: str
    http: httpx.AsyncClient


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    """Settings for the API under test; a test module may override this fixture."""
    return {}


@pytest.fixture
async def base_url(
    database_url: str, tmp_path: Any, api_overrides: dict[str, Any]
) -> AsyncIterator[str]:
    settings = load_settings(
        log_dir=tmp_path, log_console=False, max_payload_bytes=64 * 1024, **api_overrides
    )
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


async def new_caller(database_url: str, base_url: str, name: str, *, admin: bool = False) -> Caller:
    settings = load_settings(database_url=database_url, log_console=False)
    async with running_services(settings, process="test") as services:
        issued = await create_tenant(name, tenants=PgTenantRepository(services.pool), admin=admin)
    client = httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {issued.key}"}, timeout=10
    )
    return Caller(issued.tenant_id, issued.key, client)


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


@pytest.fixture
async def admin(database_url: str, base_url: str) -> AsyncIterator[Caller]:
    caller = await new_caller(database_url, base_url, "operators", admin=True)
    yield caller
    await caller.http.aclose()


@pytest.fixture
async def anonymous(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with our fields; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "instance", "traceId"} <= set(body)
    assert body["traceId"] == response.headers["x-trace-id"]
    return body
