"""GET /api/v1/tasks/{id} with a wait long-polls: it answers when the task's status
changes, or when the wait runs out. Waiting requests have caps of their own per key and
do not hold the key's places among its requests in progress."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest

from tests.api.conftest import Caller, assert_problem
from tests.workers.conftest import StartWorker


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    return {
        "api_max_wait_seconds": 2,
        "api_max_waiting_per_key": 2,
        "api_max_in_flight_per_key": 2,
        "api_refusal_hold_seconds": 0,
    }


async def queued_task(caller: Caller, seconds: float = 0.3) -> str:
    response = await caller.http.post(
        "/api/v1/tasks", json={"type": "demo.sleep", "payload": {"seconds": seconds}}
    )
    task_id: str = response.json()["id"]
    return task_id


async def test_a_long_poll_answers_when_the_status_changes(
    acme: Caller, start_worker: StartWorker
) -> None:
    task_id = await queued_task(acme)
    poll = asyncio.create_task(
        acme.http.get(f"/api/v1/tasks/{task_id}", headers={"Prefer": "wait=2"})
    )
    await asyncio.sleep(0.3)
    assert not poll.done()  # nothing has changed: it waits
    await start_worker()
    changed_from = time.monotonic()
    response = await poll
    assert response.status_code == 200
    assert response.json()["status"] != "Queued"
    assert response.headers["X-Status-Changed"] == "true"
    assert response.headers["Preference-Applied"] == "wait=2"
    assert time.monotonic() - changed_from < 1.5  # the worker's start, a lease, one watch


async def test_a_long_poll_wakes_for_an_event_that_commits_after_a_later_numbered_one(
    acme: Caller, database_url: str
) -> None:
    task_id = await queued_task(acme)
    poll = asyncio.create_task(
        acme.http.get(f"/api/v1/tasks/{task_id}", headers={"Prefer": "wait=2"})
    )
    async with await psycopg.AsyncConnection.connect(database_url) as slow:
        # A slow transaction takes its event id first and commits last.
        await slow.execute(
            "UPDATE tasks SET status = 'Cancelled', finished_at = now() WHERE id = %s", (task_id,)
        )
        await slow.execute(
            "INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status)"
            " VALUES (%s, %s, 2, 'TaskCancelled', 'Cancelled')",
            (task_id, acme.tenant_id),
        )
        await queued_task(acme)  # a later-numbered event, committed at once
        await asyncio.sleep(0.6)  # the watcher has read past it
        await slow.commit()
    committed = time.monotonic()
    response = await poll
    assert response.json()["status"] == "Cancelled"
    assert time.monotonic() - committed < 0.9  # seen by the watcher, not at the deadline


async def test_a_long_poll_on_a_task_that_does_not_change_answers_when_the_wait_ends(
    acme: Caller,
) -> None:
    task_id = await queued_task(acme)
    started = time.monotonic()
    response = await acme.http.get(f"/api/v1/tasks/{task_id}", params={"waitSeconds": 1})
    assert 1 <= time.monotonic() - started < 2
    assert (response.status_code, response.json()["status"]) == (200, "Queued")
    assert response.headers["X-Status-Changed"] == "false"
    assert "Prefer" in response.headers["Vary"]
    started = time.monotonic()
    capped = await acme.http.get(f"/api/v1/tasks/{task_id}", headers={"Prefer": "wait=100"})
    assert capped.headers["Preference-Applied"] == "wait=2"  # API_MAX_WAIT_SECONDS
    assert 2 <= time.monotonic() - started < 3
    too_long = await acme.http.get(f"/api/v1/tasks/{task_id}", params={"waitSeconds": 3})
    assert assert_problem(too_long, 422)["errors"][0]["field"] == "waitSeconds"


async def test_waiting_requests_have_their_own_cap_per_key(acme: Caller, globex: Caller) -> None:
    task_id = await queued_task(acme)
    polls = [
        asyncio.create_task(acme.http.get(f"/api/v1/tasks/{task_id}", params={"waitSeconds": 2}))
        for _ in range(2)
    ]
    await asyncio.sleep(0.3)
    # Two waits fill API_MAX_WAITING_PER_KEY, not API_MAX_IN_FLIGHT_PER_KEY (also 2):
    # the key's other requests go on.
    assert (await acme.http.get(f"/api/v1/tasks/{task_id}")).status_code == 200
    third = await acme.http.get(f"/api/v1/tasks/{task_id}", params={"waitSeconds": 2})
    assert "waiting" in assert_problem(third, 429)["detail"]
    assert third.headers["Retry-After"] == "1"
    started = time.monotonic()
    posted = await acme.http.post(
        "/api/v1/tasks",
        json={"type": "demo.sleep", "payload": {"seconds": 1}},
        headers={"Prefer": "wait=2"},
    )
    assert (posted.status_code, "Preference-Applied" in posted.headers) == (202, False)
    assert time.monotonic() - started < 0.9  # a POST past the cap answers at once
    other = await queued_task(globex)
    elsewhere = await globex.http.get(f"/api/v1/tasks/{other}", params={"waitSeconds": 1})
    assert elsewhere.headers["X-Status-Changed"] == "false"  # another key still waits
    assert [(await poll).headers["X-Status-Changed"] for poll in polls] == ["false", "false"]
