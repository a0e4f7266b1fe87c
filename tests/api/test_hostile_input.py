"""Input that once produced a 500 or a half-done batch: each is a clear 4xx, nothing saved."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import psycopg

from tests.api.conftest import Caller, assert_problem
from tests.api.test_docs_and_streams import read_events


async def total(caller: Caller) -> int:
    return int((await caller.http.get("/api/v1/tasks")).headers["x-total-count"])


async def test_a_batch_with_a_reused_key_saves_nothing(acme: Caller) -> None:
    await acme.http.post("/api/v1/tasks", json={"type": "a"}, headers={"Idempotency-Key": "k"})
    batch = {"tasks": [{"type": "x"}, {"type": "y", "idempotencyKey": "k"}]}
    assert_problem(await acme.http.post("/api/v1/tasks/batch", json=batch), 422)
    assert await total(acme) == 1


async def test_a_batch_naming_one_key_twice_is_refused(acme: Caller) -> None:
    batch = {"tasks": [{"type": "x", "idempotencyKey": "d"}, {"type": "x", "idempotencyKey": "d"}]}
    problem = assert_problem(await acme.http.post("/api/v1/tasks/batch", json=batch), 422)
    assert "only once" in str(problem["errors"])
    assert await total(acme) == 0


async def test_payload_text_postgres_cannot_store_is_a_422(acme: Caller) -> None:
    for payload in ({"text": "nul\u0000"}, {"k\u0000": 1}, {"deep": _nested(40)}):
        problem = assert_problem(
            await acme.http.post("/api/v1/tasks", json={"type": "x", "payload": payload}), 422
        )
        assert problem["errors"][0]["field"].startswith("payload")
    assert await total(acme) == 0


async def test_non_finite_numbers_and_absurd_nesting_are_a_400(acme: Caller) -> None:
    headers = {"Content-Type": "application/json"}
    for raw in (b'{"type": "x", "payload": {"n": NaN}}', b"[" * 5000 + b"]" * 5000):
        response = await acme.http.post("/api/v1/tasks", content=raw, headers=headers)
        assert_problem(response, 400)
    assert await total(acme) == 0


async def test_a_body_that_is_not_an_object_is_a_422(acme: Caller) -> None:
    for body in ([1, 2], 7, "text", None):
        assert_problem(await acme.http.post("/api/v1/tasks", json=body), 422)


async def test_an_absurd_schedule_is_refused(acme: Caller) -> None:
    for when in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00", "2030-01-01T00:00:00"):
        body = {"type": "x", "scheduledAt": when}
        assert_problem(await acme.http.post("/api/v1/tasks", json=body), 422)


async def test_replaying_a_delayed_task_returns_the_same_task(acme: Caller) -> None:
    body = {"type": "x", "delaySeconds": 60}
    first = await acme.http.post("/api/v1/tasks", json=body, headers={"Idempotency-Key": "d"})
    await asyncio.sleep(0.05)
    again = await acme.http.post("/api/v1/tasks", json=body, headers={"Idempotency-Key": "d"})
    assert again.status_code == 202
    assert again.json()["id"] == first.json()["id"]


async def test_an_admin_naming_an_unknown_tenant_gets_a_404(admin: Caller) -> None:
    response = await admin.http.post(
        "/api/v1/tasks", json={"type": "x"}, headers={"X-Tenant-Id": str(uuid.uuid4())}
    )
    assert_problem(response, 404)
    bad = await admin.http.get("/api/v1/tasks", headers={"X-Tenant-Id": "not-a-uuid"})
    assert_problem(bad, 400)


async def test_a_finished_tasks_stream_ends_instead_of_hanging(acme: Caller) -> None:
    task_id = (await acme.http.post("/api/v1/tasks", json={"type": "x"})).json()["id"]
    await acme.http.post(f"/api/v1/tasks/{task_id}/cancel")
    events = await asyncio.wait_for(
        read_events(acme.http, f"/api/v1/tasks/{task_id}/events", 5), timeout=10
    )
    assert [e["data"]["eventType"] for e in events] == ["TaskQueued", "TaskCancelled"]
    resumed = await asyncio.wait_for(
        read_events(
            acme.http, f"/api/v1/tasks/{task_id}/events", 5, {"Last-Event-ID": events[-1]["id"]}
        ),
        timeout=10,
    )
    assert resumed == []


async def test_a_malformed_last_event_id_is_a_400(acme: Caller) -> None:
    task_id = (await acme.http.post("/api/v1/tasks", json={"type": "x"})).json()["id"]
    response = await acme.http.get(
        f"/api/v1/tasks/{task_id}/events",
        headers={"Accept": "text/event-stream", "Last-Event-ID": "abc"},
    )
    assert_problem(response, 400)


async def test_the_tenant_stream_starts_with_new_events_only(acme: Caller) -> None:
    await acme.http.post("/api/v1/tasks", json={"type": "old"})
    reader = asyncio.create_task(read_events(acme.http, "/api/v1/events", 1))
    await asyncio.sleep(0.3)
    new = (await acme.http.post("/api/v1/tasks", json={"type": "new"})).json()["id"]
    [event] = await asyncio.wait_for(reader, timeout=10)
    assert event["data"]["taskId"] == new


async def test_artifact_content_cannot_run_in_a_browser(acme: Caller, database_url: str) -> None:
    task_id = (await acme.http.post("/api/v1/tasks", json={"type": "x"})).json()["id"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO task_artifacts (task_id, kind, content_type, content) "
            "VALUES (%s, 'text', 'text/html', '<script>alert(1)</script>') RETURNING id",
            (task_id,),
        ).fetchone()
        assert row is not None
    response = await acme.http.get(f"/api/v1/tasks/{task_id}/artifacts/{row[0]}")
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]


def _nested(levels: int) -> object:
    value: object = "leaf"
    for _ in range(levels):
        value = {"n": value}
    return value


async def test_the_events_stream_accepts_any_accept_header(anonymous: httpx.AsyncClient) -> None:
    assert_problem(await anonymous.get("/api/v1/events"), 401)
