"""GET /health and the problem+json shape of errors raised before any handler runs."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart.typing import TestAppProtocol as ServingApp

from app.bootstrap import build_api, build_services
from app.config import load_settings
from tests.conftest import url_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def serving(url: str) -> AsyncIterator[ServingApp]:
    app = build_api(build_services(load_settings(), process="api", url=url))
    app.add_url_rule("/boom", "boom", _boom)
    async with app.test_app() as test_app:
        yield test_app


async def _boom() -> Any:
    raise RuntimeError("internal detail: password=hunter2 at /srv/app")


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[ServingApp]:
    async for test_app in serving(database_url):
        yield test_app


async def test_health_is_ok_while_postgres_answers(api: ServingApp) -> None:
    response = await api.test_client().get("/health")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["postgres"]["status"] == "up"
    assert body["checks"]["outbox"] == {
        "status": "up",
        "latencyMs": body["checks"]["outbox"]["latencyMs"],
        "pendingEvents": 0,
        "lagSeconds": 0.0,
    }
    assert response.headers["Cache-Control"] == "no-store"


async def test_health_is_503_when_postgres_is_unreachable() -> None:
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    async for test_app in serving(dead):
        response = await test_app.test_client().get("/health")
        assert response.status_code == 503
        body = await response.get_json()
        assert body["status"] == "unavailable"
        assert body["checks"]["postgres"]["status"] == "down"


async def test_health_is_503_when_the_schema_is_not_migrated(empty_database_url: str) -> None:
    async for test_app in serving(empty_database_url):
        response = await test_app.test_client().get("/health")
        assert response.status_code == 503
        body = await response.get_json()
        assert "assistente migrate" in body["checks"]["postgres"]["detail"]


async def test_an_unknown_path_is_a_404_problem(api: ServingApp) -> None:
    response = await api.test_client().get("/api/v1/nowhere")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    body = await response.get_json()
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert body["instance"] == "/api/v1/nowhere"
    assert body["type"].endswith("/not-found")
    assert body["traceId"] == response.headers["X-Trace-Id"]


async def test_a_wrong_method_is_a_405_problem_with_allow(api: ServingApp) -> None:
    response = await api.test_client().delete("/health")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert (await response.get_json())["status"] == 405


async def test_an_unexpected_error_is_a_500_problem_without_internals(
    api: ServingApp,
) -> None:
    response = await api.test_client().get("/boom")
    assert response.status_code == 500
    body = await response.get_json()
    assert body["status"] == 500
    assert body["traceId"]
    assert "hunter2" not in str(body) and "RuntimeError" not in str(body)


async def test_an_incoming_traceparent_becomes_the_trace_id(api: ServingApp) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = await api.test_client().get(
        "/api/v1/nowhere", headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
    )
    assert response.headers["X-Trace-Id"] == trace
    assert (await response.get_json())["traceId"] == trace


async def test_a_malformed_traceparent_is_replaced(api: ServingApp) -> None:
    response = await api.test_client().get("/health", headers={"traceparent": "garbage"})
    trace = response.headers["X-Trace-Id"]
    assert len(trace) == 32 and trace != "garbage"


def test_the_test_database_helper_builds_urls() -> None:
    assert url_for("x").endswith("/x")
