"""The API and a worker together: what a client sees while its task runs."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.conftest import Caller
from tests.workers.conftest import StartWorker


async def wait_status(caller: Caller, task_id: str, statuses: set[str]) -> dict[str, Any]:
    for _ in range(200):
        task: dict[str, Any] = (await caller.http.get(f"/api/v1/tasks/{task_id}")).json()
        if task["status"] in statuses:
            return task
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} never reached {statuses}: {task}")


async def test_a_finished_task_shows_its_result_attempts_and_artifact(
    acme: Caller, start_worker: StartWorker
) -> None:
    await start_worker()
    created = await acme.http.post(
        "/api/v1/tasks", json={"type": "demo.sleep", "payload": {"seconds": 0.2}}
    )
    task = await wait_status(acme, created.json()["id"], {"Succeeded"})
    assert task["result"] == {"slept": 0.2}
    assert task["progress"] == 100
    attempts = (await acme.http.get(f"/api/v1/tasks/{task['id']}/attempts")).json()["items"]
    assert [(a["attemptNo"], a["status"]) for a in attempts] == [(1, "Succeeded")]
    assert attempts[0]["latencyMs"] >= 150
    [artifact] = (await acme.http.get(f"/api/v1/tasks/{task['id']}/artifacts")).json()["items"]
    content = await acme.http.get(f"/api/v1/tasks/{task['id']}/artifacts/{artifact['id']}")
    assert content.headers["content-type"].startswith("application/json")
    assert content.json() == {"slept": 0.2}
    events = (await acme.http.get(f"/api/v1/tasks/{task['id']}/events")).json()["items"]
    assert [e["eventType"] for e in events if e["eventType"] != "TaskProgressed"] == [
        "TaskQueued",
        "TaskRunning",
        "TaskSucceeded",
    ]


async def test_cancelling_a_running_task_asks_its_worker(
    acme: Caller, start_worker: StartWorker
) -> None:
    await start_worker()
    created = await acme.http.post(
        "/api/v1/tasks", json={"type": "demo.sleep", "payload": {"seconds": 30}}
    )
    task_id = created.json()["id"]
    await wait_status(acme, task_id, {"Running"})
    response = await acme.http.post(f"/api/v1/tasks/{task_id}/cancel")
    assert response.json()["outcome"] == "requested"
    assert response.json()["task"]["cancelRequested"] is True
    again = await acme.http.post(f"/api/v1/tasks/{task_id}/cancel")
    assert again.status_code in {200, 409}  # still stopping, or already stopped
    assert (await wait_status(acme, task_id, {"Cancelled"}))["finishedAt"] is not None


async def test_progress_is_visible_while_a_task_runs(
    acme: Caller, start_worker: StartWorker
) -> None:
    await start_worker()
    created = await acme.http.post(
        "/api/v1/tasks", json={"type": "demo.sleep", "payload": {"seconds": 3}}
    )
    task_id = created.json()["id"]
    seen: set[int] = set()
    for _ in range(60):
        task = (await acme.http.get(f"/api/v1/tasks/{task_id}")).json()
        if task["status"] == "Running":
            seen.add(task["progress"])
            if task["state"] == "sleeping" and 0 < task["progress"] < 100:
                break
        await asyncio.sleep(0.1)
    assert any(0 < p < 100 for p in seen), seen
    await acme.http.post(f"/api/v1/tasks/{task_id}/cancel")
