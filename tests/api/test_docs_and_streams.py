"""The OpenAPI document, the docs UI, live event streams, and 503 when Postgres is gone."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from openapi_spec_validator import validate

from tests.api.conftest import Caller, assert_problem

ENDPOINTS = {
    ("post", "/api/v1/tasks"),
    ("post", "/api/v1/tasks/batch"),
    ("post", "/api/v1/batches"),
    ("get", "/api/v1/batches/{batch_id}"),
    ("get", "/api/v1/batches/{batch_id}/children"),
    ("post", "/api/v1/batches/{batch_id}/cancel"),
    ("post", "/api/v1/sagas"),
    ("get", "/api/v1/sagas/{saga_id}"),
    ("post", "/api/v1/sagas/{saga_id}/cancel"),
    ("post", "/api/v1/schedules"),
    ("get", "/api/v1/schedules"),
    ("get", "/api/v1/schedules/{schedule_id}"),
    ("delete", "/api/v1/schedules/{schedule_id}"),
    ("post", "/api/v1/schedules/{schedule_id}/pause"),
    ("post", "/api/v1/schedules/{schedule_id}/resume"),
    ("post", "/api/v1/triggers"),
    ("get", "/api/v1/triggers"),
    ("get", "/api/v1/triggers/{trigger_id}"),
    ("post", "/api/v1/triggers/{trigger_id}/pause"),
    ("post", "/api/v1/triggers/{trigger_id}/resume"),
    ("delete", "/api/v1/triggers/{trigger_id}"),
    ("post", "/api/v1/signals"),
    ("get", "/api/v1/signals/{signal_id}"),
    ("get", "/api/v1/tasks"),
    ("get", "/api/v1/tasks/{task_id}"),
    ("post", "/api/v1/tasks/{task_id}/cancel"),
    ("post", "/api/v1/tasks/{task_id}/requeue"),
    ("post", "/api/v1/tasks/{task_id}/decision"),
    ("get", "/api/v1/tasks/{task_id}/attempts"),
    ("get", "/api/v1/tasks/{task_id}/artifacts"),
    ("get", "/api/v1/tasks/{task_id}/artifacts/{artifact_id}"),
    ("get", "/api/v1/tasks/{task_id}/events"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/queue/stats"),
    ("get", "/api/v1/usage"),
    ("get", "/api/v1/workers"),
    ("get", "/health"),
}


async def test_the_openapi_document_is_valid_and_complete(anonymous: httpx.AsyncClient) -> None:
    document = (await anonymous.get("/openapi.json")).json()
    validate(document)
    assert document["openapi"].startswith("3.")
    operations = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert operations == ENDPOINTS
    for path, ops in document["paths"].items():
        for method, operation in ops.items():
            if path.startswith("/api/"):
                for status in ("400", "401", "403", "413", "415", "422", "429", "500", "503"):
                    assert status in operation["responses"], (method, path, status)
                assert operation["security"] == [{"bearerAuth": []}]
    schemas = document["components"]["schemas"]
    assert "traceId" in schemas["Problem"]["properties"]
    create = document["paths"]["/api/v1/tasks"]["post"]["requestBody"]["content"]
    properties = create["application/json"]["schema"]["properties"]
    assert set(properties) >= {"type", "payload", "priority", "domainType", "capabilityType"}


async def test_swagger_ui_is_served_without_a_cdn(anonymous: httpx.AsyncClient) -> None:
    page = await anonymous.get("/docs")
    assert page.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in page.text
    assert "https://" not in page.text
    script = await anonymous.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert script.headers["content-type"] == "application/javascript"
    # Only the page's own assets: nothing else of the bundle's folder, no path tricks.
    for name in ("index.j2", "..%2F..%2Fswagger_ui_bundle%2F__init__.py"):
        assert (await anonymous.get(f"/docs/assets/{name}")).status_code == 404


async def read_events(
    client: httpx.AsyncClient, path: str, count: int, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Open an SSE stream and collect `count` events."""
    events: list[dict[str, Any]] = []
    async with client.stream(
        "GET", path, headers={"Accept": "text/event-stream", **(headers or {})}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        current: dict[str, Any] = {}
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                current["id"] = line[4:]
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
            elif line == "" and "data" in current:
                events.append(current)
                current = {}
                if len(events) == count:
                    break
    return events


async def test_a_task_stream_delivers_events_as_they_happen_and_resumes(
    acme: Caller, database_url: str
) -> None:
    task_id = (await acme.http.post("/api/v1/tasks", json={"type": "demo.noop"})).json()["id"]
    path = f"/api/v1/tasks/{task_id}/events"
    reader = asyncio.create_task(read_events(acme.http, path, 2))
    await asyncio.sleep(0.3)  # the stream is open and waiting
    await acme.http.post(f"/api/v1/tasks/{task_id}/cancel")
    events = await asyncio.wait_for(reader, timeout=10)
    assert [e["data"]["eventType"] for e in events] == ["TaskQueued", "TaskCancelled"]
    # Resume after the first event: only the second comes again.
    resumed = await asyncio.wait_for(
        read_events(acme.http, path, 1, {"Last-Event-ID": events[0]["id"]}), timeout=10
    )
    assert [e["data"]["eventType"] for e in resumed] == ["TaskCancelled"]


async def test_the_tenant_stream_carries_only_the_tenants_events(
    acme: Caller, globex: Caller
) -> None:
    reader = asyncio.create_task(read_events(acme.http, "/api/v1/events", 2))
    await asyncio.sleep(0.3)
    await globex.http.post("/api/v1/tasks", json={"type": "demo.noop"})
    mine = [
        (await acme.http.post("/api/v1/tasks", json={"type": "demo.noop"})).json()["id"]
        for _ in range(2)
    ]
    events = await asyncio.wait_for(reader, timeout=10)
    assert [e["data"]["taskId"] for e in events] == mine


async def test_the_api_answers_503_while_postgres_is_unreachable(tmp_path: Any) -> None:
    from app.api.server import serve_api
    from app.bootstrap import build_api, build_services
    from app.config import load_settings
    from tests.api.conftest import free_port

    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    app = build_api(build_services(load_settings(log_dir=tmp_path), process="api", url=dead))
    port = free_port()
    stop = asyncio.Event()
    server = asyncio.create_task(serve_api(app, host="127.0.0.1", port=port, stop=stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=15) as client:
            for _ in range(100):
                try:
                    response = await client.get(
                        "/api/v1/tasks", headers={"Authorization": "Bearer atk_whatever"}
                    )
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            assert_problem(response, 503)
            assert response.headers["retry-after"] == "2"
    finally:
        stop.set()
        await asyncio.wait_for(server, timeout=15)
