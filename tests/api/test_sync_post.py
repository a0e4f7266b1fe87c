"""POST /api/v1/tasks waits for the result when asked (Prefer: wait=N, executionType
Sync): a task that ends within the wait is answered 200 with its result, one that does
not is answered 202 when the wait runs out, and a client that leaves mid-wait leaves
its task running."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.api.conftest import Caller
from tests.workers.conftest import StartWorker

SLEEP = "demo.sleep"


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    return {"api_sync_wait_seconds": 1, "api_max_waiting_per_key": 2}


def sleeper(seconds: float, **fields: Any) -> dict[str, Any]:
    return {"type": SLEEP, "payload": {"seconds": seconds}, **fields}


async def test_a_quick_task_posted_with_prefer_wait_is_answered_200_with_its_result(
    acme: Caller, start_worker: StartWorker
) -> None:
    await start_worker()
    started = time.monotonic()
    response = await acme.http.post(
        "/api/v1/tasks", json=sleeper(0.2), headers={"Prefer": "wait=5"}
    )
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 4
    task = response.json()
    assert (task["status"], task["result"]) == ("Succeeded", {"slept": 0.2})
    assert response.headers["Preference-Applied"] == "wait=5"
    assert response.headers["Location"] == f"/api/v1/tasks/{task['id']}"
    assert "Prefer" in response.headers["Vary"]


async def test_a_task_still_running_when_the_wait_ends_is_answered_202(
    acme: Caller, start_worker: StartWorker
) -> None:
    await start_worker()
    started = time.monotonic()
    response = await acme.http.post(
        "/api/v1/tasks", json=sleeper(30), headers={"Prefer": "handling=lenient, wait=1"}
    )
    waited = time.monotonic() - started
    assert response.status_code == 202, response.text
    assert 1 <= waited < 3
    assert response.json()["status"] in {"Queued", "Running"}
    assert response.headers["Preference-Applied"] == "wait=1"
    assert response.headers["Location"] == f"/api/v1/tasks/{response.json()['id']}"


async def test_a_sync_task_posted_without_prefer_waits_the_default(
    acme: Caller, start_worker: StartWorker
) -> None:
    await start_worker()
    quick = await acme.http.post("/api/v1/tasks", json=sleeper(0.1, executionType="Sync"))
    assert quick.status_code == 200, quick.text
    assert quick.json()["result"] == {"slept": 0.1}
    assert "Preference-Applied" not in quick.headers  # no preference was sent
    started = time.monotonic()
    slow = await acme.http.post("/api/v1/tasks", json=sleeper(30, executionType="Sync"))
    assert slow.status_code == 202
    assert 1 <= time.monotonic() - started < 3  # API_SYNC_WAIT_SECONDS=1


async def test_respond_async_or_an_unreadable_wait_answers_at_once(
    acme: Caller, start_worker: StartWorker
) -> None:
    await start_worker()
    started = time.monotonic()
    response = await acme.http.post(
        "/api/v1/tasks",
        json=sleeper(30, executionType="Sync"),
        headers={"Prefer": "respond-async, wait=10"},
    )
    assert response.status_code == 202
    assert time.monotonic() - started < 0.9
    assert "Preference-Applied" not in response.headers
    assert "Prefer" in response.headers["Vary"]
    unreadable = await acme.http.post(  # RFC 7240: a value it cannot read is ignored
        "/api/v1/tasks", json=sleeper(30), headers={"Prefer": "wait=soon"}
    )
    assert (unreadable.status_code, "Preference-Applied" in unreadable.headers) == (202, False)


async def test_an_idempotent_replay_waits_for_the_result_too(
    acme: Caller, start_worker: StartWorker
) -> None:
    await start_worker()
    headers = {"Idempotency-Key": "order-17"}
    first = await acme.http.post("/api/v1/tasks", json=sleeper(1), headers=headers)
    assert first.status_code == 202
    replay = await acme.http.post(
        "/api/v1/tasks", json=sleeper(1), headers={**headers, "Prefer": "wait=10"}
    )
    assert replay.status_code == 200, replay.text
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert (replay.json()["id"], replay.json()["result"]) == (first.json()["id"], {"slept": 1})


async def test_a_client_that_leaves_mid_wait_leaves_its_task_running_to_success(
    acme: Caller, start_worker: StartWorker
) -> None:
    await start_worker()
    for attempt in range(3):  # more than API_MAX_WAITING_PER_KEY: each leaver's place is freed
        with pytest.raises(httpx.ReadTimeout):
            await acme.http.post(
                "/api/v1/tasks",
                json=sleeper(1.5),
                headers={"Prefer": "wait=20", "Idempotency-Key": f"leaver-{attempt}"},
                timeout=0.5,
            )
    for attempt in range(3):
        after = await acme.http.post(
            "/api/v1/tasks",
            json=sleeper(1.5),
            headers={"Prefer": "wait=10", "Idempotency-Key": f"leaver-{attempt}"},
        )
        assert after.status_code == 200, after.text
        assert after.headers["Preference-Applied"] == "wait=10"
        assert (after.json()["status"], after.json()["result"]) == ("Succeeded", {"slept": 1.5})
        assert after.json()["attemptCount"] == 1  # ran once, never stopped
