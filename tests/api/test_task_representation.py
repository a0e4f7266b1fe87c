"""One task, one representation: every endpoint shows a task the same way, and shows
nothing stale or unloaded as if it were a value."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
from openapi_spec_validator import validate

from tests.api.conftest import Caller, assert_problem
from tests.workers.conftest import StartWorker

TASK = {"type": "demo.sleep", "priority": 4, "payload": {"prompt": "Summarise", "n": [1, 2]}}
JSON = {"Content-Type": "application/json"}


def sql(database_url: str, statement: str, *params: Any) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(statement, params)


def finish(database_url: str, task_id: str, *, result: str | None, state: str) -> None:
    """Make a task Succeeded as a worker would leave it: progress 100, the handler's last
    reported state still on the row, and its result artifact."""
    sql(
        database_url,
        "UPDATE tasks SET status = 'Succeeded', finished_at = now(), started_at = now(), "
        "attempt_count = 1, progress = 100, state = %s WHERE id = %s",
        state,
        task_id,
    )
    if result is not None:
        sql(
            database_url,
            "INSERT INTO task_artifacts (task_id, kind, name, content) "
            "VALUES (%s, 'result', 'result.json', %s)",
            task_id,
            result,
        )


async def get(caller: Caller, task_id: str) -> dict[str, Any]:
    response = await caller.http.get(f"/api/v1/tasks/{task_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def listed(caller: Caller, task_id: str) -> dict[str, Any]:
    items = (await caller.http.get("/api/v1/tasks", params={"pageSize": 200})).json()["items"]
    [item] = [i for i in items if i["id"] == task_id]
    return dict(item)


async def test_malformed_json_is_a_problem_that_says_where(acme: Caller) -> None:
    for path, raw in (
        ("/api/v1/tasks", b'{"type": "demo.noop",\n "payload": {"a": }}'),
        ("/api/v1/tasks/batch", b'{"tasks": [{"type": "x"},\n ]}'),
    ):
        problem = assert_problem(await acme.http.post(path, content=raw, headers=JSON), 400)
        assert problem["type"].endswith("/invalid-json"), problem
        assert problem["title"] == "Invalid JSON"
        assert problem["detail"].startswith("The body is not valid JSON"), problem
        assert "line 2, column" in problem["detail"], problem
        assert "browser" not in problem["detail"]


async def test_an_empty_json_body_is_a_problem_that_says_so(acme: Caller) -> None:
    response = await acme.http.post("/api/v1/tasks", content=b"", headers=JSON)
    problem = assert_problem(response, 400)
    assert problem["type"].endswith("/invalid-json")
    assert problem["detail"].startswith("The body is empty"), problem


async def test_create_get_list_batch_and_cancel_show_a_task_alike(acme: Caller) -> None:
    created = (await acme.http.post("/api/v1/tasks", json=TASK)).json()
    fetched = await get(acme, created["id"])
    assert created == fetched
    assert await listed(acme, created["id"]) == fetched
    [batched] = (await acme.http.post("/api/v1/tasks/batch", json={"tasks": [TASK]})).json()[
        "tasks"
    ]
    assert batched["payload"] == TASK["payload"]
    assert batched == await get(acme, batched["id"])
    cancelled = (await acme.http.post(f"/api/v1/tasks/{created['id']}/cancel")).json()["task"]
    assert cancelled["payload"] == TASK["payload"]
    assert cancelled == await get(acme, created["id"])


async def test_a_requeued_task_shows_as_get_shows_it(acme: Caller, database_url: str) -> None:
    task_id = (await acme.http.post("/api/v1/tasks", json=TASK)).json()["id"]
    sql(
        database_url,
        "UPDATE tasks SET status = 'DeadLetter', finished_at = now(), attempt_count = 3, "
        "state = 'calling the model' WHERE id = %s",
        task_id,
    )
    requeued = (await acme.http.post(f"/api/v1/tasks/{task_id}/requeue")).json()
    assert requeued["payload"] == TASK["payload"]
    assert requeued == await get(acme, task_id)


async def test_a_finished_task_shows_no_running_state(acme: Caller, database_url: str) -> None:
    task_id = (await acme.http.post("/api/v1/tasks", json=TASK)).json()["id"]
    finish(database_url, task_id, result='{"answer": 42}', state="sleeping")
    fetched = await get(acme, task_id)
    assert (fetched["status"], fetched["progress"], fetched["state"]) == ("Succeeded", 100, None)
    assert (await listed(acme, task_id))["state"] is None


async def test_a_running_task_shows_its_handlers_state(acme: Caller, database_url: str) -> None:
    task_id = (await acme.http.post("/api/v1/tasks", json=TASK)).json()["id"]
    sql(
        database_url,
        "UPDATE tasks SET status = 'Running', locked_by = 'w', attempt_id = 7, attempt_count = 1, "
        "locked_until = now() + interval '1 minute', started_at = now(), state = 'sleeping' "
        "WHERE id = %s",
        task_id,
    )
    assert (await get(acme, task_id))["state"] == "sleeping"
    assert (await listed(acme, task_id))["state"] == "sleeping"


async def test_list_items_carry_the_result_of_succeeded_tasks(
    acme: Caller, database_url: str
) -> None:
    done, bare, waiting = [(await acme.http.post("/api/v1/tasks", json=TASK)).json() for _ in "abc"]
    finish(database_url, done["id"], result='{"answer": "ü", "score": 0.5}', state="x")
    finish(database_url, bare["id"], result=None, state="x")  # a handler that returned nothing
    assert (await get(acme, done["id"]))["result"] == {"answer": "ü", "score": 0.5}
    for task in (done, bare, waiting):
        assert await listed(acme, task["id"]) == await get(acme, task["id"])
    assert (await listed(acme, bare["id"]))["result"] is None


async def test_a_replayed_create_of_a_succeeded_task_shows_its_result(
    acme: Caller, database_url: str
) -> None:
    key = {"Idempotency-Key": "replay-after-success"}
    task_id = (await acme.http.post("/api/v1/tasks", json=TASK, headers=key)).json()["id"]
    finish(database_url, task_id, result='{"answer": 42}', state="x")
    replay = await acme.http.post("/api/v1/tasks", json=TASK, headers=key)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == await get(acme, task_id)
    assert replay.json()["result"] == {"answer": 42}


async def test_requeue_continues_attempt_numbers_with_fresh_attempts(
    acme: Caller, database_url: str
) -> None:
    task_id = (await acme.http.post("/api/v1/tasks", json={**TASK, "maxAttempts": 3})).json()["id"]
    sql(
        database_url,
        "UPDATE tasks SET status = 'DeadLetter', finished_at = now(), attempt_count = 3, "
        "progress = 40 WHERE id = %s",
        task_id,
    )
    first = (await acme.http.post(f"/api/v1/tasks/{task_id}/requeue")).json()
    assert (first["status"], first["attemptCount"], first["maxAttempts"]) == ("Queued", 3, 6)
    assert first["progress"] == 0  # a fresh start: the last attempt's progress is gone
    sql(
        database_url,
        "UPDATE tasks SET status = 'DeadLetter', finished_at = now(), attempt_count = 5 "
        "WHERE id = %s",
        task_id,
    )
    # A task that used 2 of its 3 fresh attempts (the last one non-retryable) gets 3 again.
    second = (await acme.http.post(f"/api/v1/tasks/{task_id}/requeue")).json()
    assert (second["attemptCount"], second["maxAttempts"]) == (5, 8)
    events = (await acme.http.get(f"/api/v1/tasks/{task_id}/events")).json()["items"]
    assert [e["eventType"] for e in events][-1] == "TaskRequeued"


async def test_attempts_of_a_requeued_task_are_numbered_on(
    acme: Caller, start_worker: StartWorker
) -> None:
    await start_worker()
    created = await acme.http.post("/api/v1/tasks", json={"type": "demo.fail", "maxAttempts": 1})
    task_id = created.json()["id"]
    await ended_attempts(acme, task_id, 1)
    assert (await acme.http.post(f"/api/v1/tasks/{task_id}/requeue")).status_code == 200
    attempts = await ended_attempts(acme, task_id, 2)
    assert [(a["attemptNo"], a["status"]) for a in attempts] == [(1, "Failed"), (2, "Failed")]
    task = await get(acme, task_id)
    assert (task["status"], task["attemptCount"], task["maxAttempts"]) == ("DeadLetter", 2, 2)
    events = (await acme.http.get(f"/api/v1/tasks/{task_id}/events")).json()["items"]
    running = [e["detail"]["attemptNo"] for e in events if e["eventType"] == "TaskRunning"]
    assert running == [1, 2]


async def ended_attempts(caller: Caller, task_id: str, count: int) -> list[dict[str, Any]]:
    """The task's attempts once `count` of them have ended and the task is DeadLetter."""
    for _ in range(200):
        attempts = (await caller.http.get(f"/api/v1/tasks/{task_id}/attempts")).json()["items"]
        ended = [a for a in attempts if a["endedAt"] is not None]
        if len(ended) >= count and (await get(caller, task_id))["status"] == "DeadLetter":
            return list(attempts)
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} never had {count} ended attempts: {attempts}")


async def test_the_openapi_document_describes_the_one_task_shape(
    anonymous: httpx.AsyncClient,
) -> None:
    document = (await anonymous.get("/openapi.json")).json()
    validate(document)
    task = document["components"]["schemas"]["TaskBody"]
    assert {"payload", "result", "state"} <= set(task["required"])
    assert "Running" in task["properties"]["state"]["description"]
    assert "Succeeded" in task["properties"]["result"]["description"]
    assert "requeue" in task["properties"]["maxAttempts"]["description"]
    paths = document["paths"]
    for path, method, status in (
        ("/api/v1/tasks", "post", "202"),
        ("/api/v1/tasks/batch", "post", "202"),
        ("/api/v1/tasks", "get", "200"),
        ("/api/v1/tasks/{task_id}", "get", "200"),
        ("/api/v1/tasks/{task_id}/cancel", "post", "200"),
        ("/api/v1/tasks/{task_id}/requeue", "post", "200"),
    ):
        shape = str(paths[path][method]["responses"][status]["content"])
        assert "TaskBody" in shape, (method, path)  # inline at the top, else a $ref
    invalid = document["paths"]["/api/v1/tasks"]["post"]["responses"]["400"]
    assert "JSON" in invalid["description"]
