"""/api/v1/schedules over real HTTP: create, read, pause, resume, delete; bad input
named by field; tenants kept apart; code schedules read-only; ticks run by workers."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.api.conftest import assert_problem
from tests.batches.http import Caller, acme, base_url, globex
from tests.schedules.conftest import ticks_of
from tests.workers.conftest import StartWorker

__all__ = ["acme", "base_url", "globex"]  # fixtures: the real API under Hypercorn

Conn = psycopg.AsyncConnection[Any]
TASK = {"type": "demo.noop", "payload": {"report": "daily"}}


def schedule(**fields: Any) -> dict[str, Any]:
    return {"name": f"s-{uuid.uuid4().hex[:8]}", "cron": "0 2 * * *", "task": TASK, **fields}


async def create(caller: Caller, **fields: Any) -> dict[str, Any]:
    response = await caller.http.post("/api/v1/schedules", json=schedule(**fields))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/api/v1/schedules/{body['id']}"
    return body


async def test_a_new_schedule_shows_its_next_five_runs_in_its_time_zone(acme: Caller) -> None:
    body = await create(acme, cron="30 2 * * *", timezone="Europe/Berlin", missed="runOnce")
    assert body["source"] == "api"
    assert (body["paused"], body["missed"], body["lastTickAt"]) == (False, "runOnce", None)
    assert body["task"] == {**TASK, "priority": 5, "maxAttempts": 3, "executionType": "Async"}
    runs = [datetime.fromisoformat(r) for r in body["nextRuns"]]
    assert len(runs) == 5
    assert all(r.utcoffset() in {timedelta(hours=1), timedelta(hours=2)} for r in runs)
    assert all((r.hour, r.minute) in {(2, 30), (3, 0)} for r in runs)  # 03:00: spring gap
    assert all(b - a <= timedelta(hours=25) for a, b in itertools.pairwise(runs))
    assert datetime.fromisoformat(body["nextRunAt"]) == runs[0]
    shown = await acme.http.get(f"/api/v1/schedules/{body['id']}")
    assert shown.json() == body


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * *"}, "cron"),
        ({"cron": "0 0 31 2 *"}, "cron"),  # never fires
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "+01:00"}, "timezone"),
        ({"missed": "always"}, "missed"),
        ({"task": {"type": "demo.noop", "delaySeconds": 5}}, "task"),
        ({"task": {"type": "demo.noop", "waitFor": {"signal": "s", "key": "k"}}}, "task"),
        ({"task": {"payload": {}}}, "task.type"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    acme: Caller, fields: dict[str, Any], field: str
) -> None:
    response = await acme.http.post("/api/v1/schedules", json=schedule(**fields))
    problem = assert_problem(response, 422)
    assert field in [e["field"] for e in problem["errors"]], problem


async def test_a_task_a_built_in_capability_would_refuse_is_a_422_under_task(
    acme: Caller,
) -> None:
    task = {
        "type": "search",
        "capabilityType": "Embedding_Search",
        "payload": {"query": "reset my password", "documents": ["Change password"]},
    }
    response = await acme.http.post("/api/v1/schedules", json=schedule(task=task))
    problem = assert_problem(response, 422)
    assert {e["field"] for e in problem["errors"]} == {
        "task.payload.candidates",
        "task.payload.documents",
    }


async def test_a_name_taken_is_a_409(acme: Caller) -> None:
    await create(acme, name="nightly")
    response = await acme.http.post("/api/v1/schedules", json=schedule(name="nightly"))
    assert_problem(response, 409)


async def test_schedules_are_listed_by_name_page_by_page(acme: Caller, globex: Caller) -> None:
    for name in ("c", "a", "b"):
        await create(acme, name=name)
    await create(globex, name="other")
    first = (await acme.http.get("/api/v1/schedules", params={"pageSize": 2})).json()
    assert [s["name"] for s in first["items"]] == ["a", "b"]
    assert first["nextAfter"] == "b"
    rest = await acme.http.get("/api/v1/schedules", params={"pageSize": 2, "after": "b"})
    assert [s["name"] for s in rest.json()["items"]] == ["c"]
    assert rest.json()["nextAfter"] is None


async def test_pause_stops_the_runs_and_resume_goes_on_from_now(acme: Caller) -> None:
    body = await create(acme, cron="*/5 * * * *")
    paused = await acme.http.post(f"/api/v1/schedules/{body['id']}/pause")
    assert paused.status_code == 200, paused.text
    assert (paused.json()["paused"], paused.json()["nextRuns"]) == (True, [])
    assert paused.json()["nextRunAt"] is None
    resumed = await acme.http.post(f"/api/v1/schedules/{body['id']}/resume")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["paused"] is False
    assert len(resumed.json()["nextRuns"]) == 5


async def test_delete_removes_it(acme: Caller) -> None:
    body = await create(acme)
    deleted = await acme.http.delete(f"/api/v1/schedules/{body['id']}")
    assert deleted.status_code == 204
    assert_problem(await acme.http.get(f"/api/v1/schedules/{body['id']}"), 404)
    assert_problem(await acme.http.delete(f"/api/v1/schedules/{body['id']}"), 404)


async def test_another_tenants_schedule_is_a_404_everywhere(acme: Caller, globex: Caller) -> None:
    body = await create(acme)
    path = f"/api/v1/schedules/{body['id']}"
    assert_problem(await globex.http.get(path), 404)
    assert_problem(await globex.http.post(f"{path}/pause"), 404)
    assert_problem(await globex.http.post(f"{path}/resume"), 404)
    assert_problem(await globex.http.delete(path), 404)
    assert (await globex.http.get("/api/v1/schedules")).json()["items"] == []
    assert (await acme.http.get(path)).json()["paused"] is False  # untouched


async def test_a_code_schedule_may_be_paused_but_not_deleted(acme: Caller, conn: Conn) -> None:
    body = await create(acme)
    await conn.execute("UPDATE schedules SET source = 'code' WHERE id = %s", (body["id"],))
    path = f"/api/v1/schedules/{body['id']}"
    assert_problem(await acme.http.delete(path), 409)
    assert (await acme.http.post(f"{path}/pause")).json()["paused"] is True
    assert (await acme.http.post(f"{path}/resume")).json()["paused"] is False
    # Retired (its code no longer declares it): paused for good, and may be deleted.
    await conn.execute(
        "UPDATE schedules SET paused = true, retired_at = now() WHERE id = %s", (body["id"],)
    )
    assert_problem(await acme.http.post(f"{path}/resume"), 409)
    assert (await acme.http.delete(path)).status_code == 204


async def test_a_schedule_made_over_http_ticks_once_a_second_through_a_worker(
    acme: Caller, conn: Conn, start_worker: StartWorker
) -> None:
    body = await create(acme, cron="* * * * * *", timezone="America/New_York")
    await start_worker()
    deadline = asyncio.get_running_loop().time() + 20
    while len(await ticks_of(conn, uuid.UUID(body["id"]))) < 3:
        assert asyncio.get_running_loop().time() < deadline, "the schedule never ticked"
        await asyncio.sleep(0.1)
    await acme.http.post(f"/api/v1/schedules/{body['id']}/pause")
    ticks = await ticks_of(conn, uuid.UUID(body["id"]))
    assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(ticks))
    cursor = await conn.execute(
        "SELECT t.id FROM tasks t JOIN task_events e ON e.task_id = t.id"
        " WHERE e.detail -> 'schedule' ->> 'id' = %s ORDER BY t.scheduled_at LIMIT 1",
        (body["id"],),
    )
    [(task_id,)] = await cursor.fetchall()
    task = await acme.http.get(f"/api/v1/tasks/{task_id}")
    assert task.json()["payload"] == TASK["payload"]
    events = (await acme.http.get(f"/api/v1/tasks/{task_id}/events")).json()["items"]
    first = events[0]
    assert first["eventType"] == "TaskQueued"
    assert first["detail"]["schedule"]["id"] == body["id"]
    tick = datetime.fromisoformat(first["detail"]["schedule"]["tick"])
    assert tick.utcoffset() in {timedelta(hours=-5), timedelta(hours=-4)}  # New York time
    assert tick == datetime.fromisoformat(task.json()["scheduledAt"])
