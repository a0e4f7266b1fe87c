"""A server that stops answers its waiting requests at once: a Sync POST still gets its
202 and Location, so the caller never loses the id of the task it created."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from app.api.server import serve_api
from app.bootstrap import build_api, build_services
from app.config import load_settings
from tests.api.conftest import free_port, new_caller


async def test_a_waiting_post_is_answered_when_the_server_stops(
    database_url: str, tmp_path: Path
) -> None:
    settings = load_settings(log_dir=tmp_path, log_console=False)
    app = build_api(build_services(settings, process="api", url=database_url))
    port, stop = free_port(), asyncio.Event()
    server = asyncio.create_task(serve_api(app, host="127.0.0.1", port=port, stop=stop))
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url) as probe:
        for _ in range(100):
            try:
                if (await probe.get("/health")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    caller = await new_caller(database_url, url, "acme")
    # No worker runs: the task stays Queued, so only the stop can end the wait.
    waiting = asyncio.create_task(
        caller.http.post("/api/v1/tasks", json={"type": "demo.noop"}, headers={"Prefer": "wait=30"})
    )
    await asyncio.sleep(0.5)
    stopped_at = time.monotonic()
    stop.set()
    response = await asyncio.wait_for(waiting, 5)
    assert time.monotonic() - stopped_at < 2
    assert response.status_code == 202
    assert response.headers["location"] == f"/api/v1/tasks/{response.json()['id']}"
    await asyncio.wait_for(server, 15)
    await caller.http.aclose()
