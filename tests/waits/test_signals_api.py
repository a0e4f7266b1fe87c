"""Signals over real HTTP with real workers: POST /api/v1/signals resumes the tasks of the
caller's tenant waiting for its name and key, and is kept for waits that come later."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

import httpx
import pytest

from app.application.task_repository import EnqueueTask
from app.application.tasks import enqueue_tasks
from app.bootstrap import Services
from app.domain import waits
from tests.api.conftest import Caller, acme, assert_problem, base_url, globex
from tests.waits.signal_http import (
    Conn,
    post_task,
    signal_events,
    signal_handlers,
    wait_parked,
    wait_task,
    waiting_task,
)
from tests.workers.conftest import StartWorker

__all__ = ["acme", "base_url", "globex"]  # fixtures: the real API under Hypercorn
T = TypeVar("T")


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    # The race sends 50 signals at once with one key: above the door's per-key rate and
    # requests-in-progress caps (tests/waits/test_signal_flood.py tests the limits).
    return {
        "api_rate_limit_per_second": 10_000.0,
        "api_rate_limit_burst": 10_000.0,
        "api_max_in_flight_per_key": 0,
    }


async def send(caller: Caller, name: str, key: str, data: Any = None, **fields: Any) -> Any:
    """POST a signal; the 201 answer."""
    response = await caller.http.post(
        "/api/v1/signals", json={"name": name, "key": key, "data": data, **fields}
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/api/v1/signals/{response.json()['id']}"
    return response.json()


async def test_a_signal_after_the_wait_resumes_the_task_with_its_data(
    acme: Caller, conn: Conn, start_worker: StartWorker
) -> None:
    await start_worker(signal_handlers())
    task_id = await post_task(acme, waiting_task("payment", "order-1"))
    assert await wait_parked(conn, task_id) == ("payment", "order-1")

    sent = await send(acme, "payment", "order-1", {"eur": 120})

    assert sent["resumed"] == 1
    assert set(sent) == {"id", "name", "key", "receivedAt", "expiresAt", "resumed"}
    done = await wait_task(acme, task_id, {"Succeeded"})
    assert done["result"] == {"data": {"eur": 120}, "signalId": sent["id"]}
    assert done["attemptCount"] == 1  # the wait used no attempt
    assert await signal_events(conn, task_id) == [
        "TaskAwaitingSignal",
        "TaskSignalled",
        "TaskSucceeded",
    ]


async def test_a_signal_before_the_wait_is_kept_and_answers_it_at_once(
    acme: Caller, conn: Conn, start_worker: StartWorker
) -> None:
    sent = await send(acme, "payment", "order-2", {"eur": 7})
    assert sent["resumed"] == 0

    await start_worker(signal_handlers())
    task_id = await post_task(acme, waiting_task("payment", "order-2"))

    done = await wait_task(acme, task_id, {"Succeeded"})
    assert done["result"] == {"data": {"eur": 7}, "signalId": sent["id"]}
    # Parked and answered in the same transaction: it never waited for anyone.
    assert await signal_events(conn, task_id) == [
        "TaskAwaitingSignal",
        "TaskSignalled",
        "TaskSucceeded",
    ]
    kept = (await acme.http.get(f"/api/v1/signals/{sent['id']}")).json()
    assert kept["resumed"] == 0  # counted when it arrived; later waits are not


async def test_a_task_created_waiting_for_a_signal_is_released_by_one(
    acme: Caller, conn: Conn, services: Services, start_worker: StartWorker
) -> None:
    wait = waits.signal_wait("shipment", "parcel-9", timeout_seconds=600, on_timeout="deadLetter")
    command = EnqueueTask(tenant_id=acme.tenant_id, type="after_signal", wait=wait)
    [created] = await enqueue_tasks([command], tasks=services.tasks)
    task_id = str(created.task_id)
    await start_worker(signal_handlers())
    assert await wait_parked(conn, task_id) == ("shipment", "parcel-9")
    assert (await acme.http.get(f"/api/v1/tasks/{task_id}")).json()["status"] == "Created"

    sent = await send(acme, "shipment", "parcel-9", {"carrier": "dhl"})

    assert sent["resumed"] == 1
    done = await wait_task(acme, task_id, {"Succeeded"})
    assert done["result"] == {"data": {"carrier": "dhl"}, "signalId": sent["id"]}


async def test_a_signal_that_matches_nothing_resumes_nothing_and_is_kept(
    acme: Caller, conn: Conn, start_worker: StartWorker
) -> None:
    await start_worker(signal_handlers())
    task_id = await post_task(acme, waiting_task("payment", "order-3"))
    await wait_parked(conn, task_id)

    for name, key in (("payment", "order-4"), ("refund", "order-3"), ("Payment", "order-3")):
        assert (await send(acme, name, key, {"x": 1}))["resumed"] == 0

    assert (await acme.http.get(f"/api/v1/tasks/{task_id}")).json()["status"] == "Created"
    assert await wait_parked(conn, task_id) == ("payment", "order-3")


async def test_of_two_signals_with_one_name_and_key_the_newest_answers_later_waits(
    acme: Caller, start_worker: StartWorker
) -> None:
    first = await send(acme, "price", "sku-1", {"eur": 10})
    second = await send(acme, "price", "sku-1", {"eur": 12})
    assert first["id"] != second["id"]  # no id sent: the server makes one each time

    await start_worker(signal_handlers())
    task_id = await post_task(acme, waiting_task("price", "sku-1"))

    done = await wait_task(acme, task_id, {"Succeeded"})
    assert done["result"] == {"data": {"eur": 12}, "signalId": second["id"]}
    kept = (await acme.http.get(f"/api/v1/signals/{first['id']}")).json()
    assert kept["data"] == {"eur": 10}  # the older one is still kept, and readable


async def test_the_same_id_and_body_is_a_replay_and_another_body_a_422(
    acme: Caller, conn: Conn, start_worker: StartWorker
) -> None:
    await start_worker(signal_handlers())
    task_id = await post_task(acme, waiting_task("payment", "order-5"))
    await wait_parked(conn, task_id)
    signal_id = str(uuid.uuid4())
    body = {"id": signal_id, "name": "payment", "key": "order-5", "data": {"eur": 5}}

    first = await acme.http.post("/api/v1/signals", json=body)
    again = await acme.http.post("/api/v1/signals", json=body)
    other = await acme.http.post("/api/v1/signals", json={**body, "data": {"eur": 6}})

    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() == {**again.json(), "id": signal_id, "resumed": 1}
    problem = assert_problem(other, 422)
    assert problem["type"].endswith("/idempotency-key-reused")
    await wait_task(acme, task_id, {"Succeeded"})
    assert (await signal_events(conn, task_id)).count("TaskSignalled") == 1
    cursor = await conn.execute("SELECT count(*) FROM signals WHERE id = %s", (signal_id,))
    assert await cursor.fetchone() == (1,)


async def test_another_tenants_signal_resumes_nothing_and_is_not_found(
    acme: Caller, globex: Caller, conn: Conn, start_worker: StartWorker
) -> None:
    await start_worker(signal_handlers())
    task_id = await post_task(acme, waiting_task("payment", "order-6"))
    await wait_parked(conn, task_id)

    theirs = await send(globex, "payment", "order-6", {"eur": 1})

    assert theirs["resumed"] == 0
    assert (await acme.http.get(f"/api/v1/tasks/{task_id}")).json()["status"] == "Created"
    problem = assert_problem(await acme.http.get(f"/api/v1/signals/{theirs['id']}"), 404)
    assert problem["type"].endswith("/signal-not-found")
    assert (await globex.http.get(f"/api/v1/signals/{theirs['id']}")).status_code == 200
    # Their id is theirs: the same id from acme is a new signal of acme's, not a replay.
    mine = await acme.http.post(
        "/api/v1/signals",
        json={"id": theirs["id"], "name": "payment", "key": "order-6", "data": {"eur": 2}},
    )
    assert mine.status_code == 201 and mine.json()["resumed"] == 1
    await wait_task(acme, task_id, {"Succeeded"})


async def test_wait_and_signal_racing_lose_nothing_over_50_rounds(
    acme: Caller, conn: Conn, start_worker: StartWorker
) -> None:
    """Each round: a task whose handler registers a wait for its own key, and the POST
    of that key's signal, both sent at random moments within 30 ms, so the signal comes
    before the task, while its handler runs, as it parks, or after. Whichever commits
    first, the other sees it (docs/design/signals.md): every task ends Succeeded."""
    await start_worker(signal_handlers(), worker_concurrency=10)
    await start_worker(signal_handlers(), worker_concurrency=10)
    rng = random.Random(16)

    async def later(seconds: float, work: Awaitable[T]) -> T:
        await asyncio.sleep(seconds)
        return await work

    async def round_(n: int) -> tuple[str, int]:
        key = f"race-{n}"
        task_id, sent = await asyncio.gather(
            later(rng.uniform(0, 0.03), post_task(acme, waiting_task("race", key))),
            later(rng.uniform(0, 0.03), send(acme, "race", key, {"n": n})),
        )
        return task_id, sent["resumed"]

    rounds = await asyncio.gather(*(round_(n) for n in range(50)))

    for n, (task_id, _) in enumerate(rounds):
        done = await wait_task(acme, task_id, {"Succeeded"}, within=30)
        assert done["result"]["data"] == {"n": n}
        assert (await signal_events(conn, task_id)).count("TaskSignalled") == 1
    resumed_by_post = sum(resumed for _, resumed in rounds)
    # Both sides of the race were taken: waits resumed by the POST, and waits answered
    # at once by a signal kept from before them.
    assert 0 < resumed_by_post < 50, resumed_by_post


async def test_an_expired_signal_does_not_answer_a_later_wait(
    acme: Caller, conn: Conn, start_worker: StartWorker
) -> None:
    sent = await send(acme, "payment", "order-8", {"old": True}, retentionSeconds=1)
    deadline = asyncio.get_running_loop().time() + 10
    while True:  # until the database's clock has passed expiresAt
        cursor = await conn.execute(
            "SELECT expires_at <= now() FROM signals WHERE id = %s", (sent["id"],)
        )
        if (await cursor.fetchone()) == (True,):
            break
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.1)

    await start_worker(signal_handlers())
    task_id = await post_task(acme, waiting_task("payment", "order-8"))
    await wait_parked(conn, task_id)  # parked: the expired signal did not answer it

    fresh = await send(acme, "payment", "order-8", {"old": False})
    assert fresh["resumed"] == 1
    done = await wait_task(acme, task_id, {"Succeeded"})
    assert done["result"]["data"] == {"old": False}


async def test_a_name_and_key_of_200_characters_each_are_waited_for_and_sent(
    acme: Caller, conn: Conn, start_worker: StartWorker
) -> None:
    name, key = "n" * 199 + "é", "k" * 199 + "✓"
    await start_worker(signal_handlers())
    task_id = await post_task(acme, waiting_task(name, key))
    await wait_parked(conn, task_id)

    assert (await send(acme, name, key, [1, "two"]))["resumed"] == 1
    assert (await wait_task(acme, task_id, {"Succeeded"}))["result"]["data"] == [1, "two"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "k"}, "name"),
        ({"name": "", "key": "k"}, "name"),
        ({"name": "n" * 201, "key": "k"}, "name"),
        ({"name": "n", "key": "a\x00b"}, "key"),
        ({"name": "n", "key": 7}, "key"),
        ({"name": "n", "key": "k", "id": "not-a-uuid"}, "id"),
        ({"name": "n", "key": "k", "retentionSeconds": 0}, "retentionSeconds"),
        ({"name": "n", "key": "k", "retentionSeconds": 30 * 86_400 + 1}, "retentionSeconds"),
        ({"name": "n", "key": "k", "retentionSeconds": "60"}, "retentionSeconds"),
        ({"name": "n", "key": "k", "data": {"a": "\x00"}}, "data"),
        ({"name": "n", "key": "k", "extra": 1}, "extra"),
    ],
)
async def test_bad_signals_are_a_422_naming_the_field(
    acme: Caller, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(await acme.http.post("/api/v1/signals", json=body), 422)
    assert field in {e["field"] for e in problem["errors"]}, problem


async def test_an_unknown_signal_id_is_a_404_and_no_key_a_401(acme: Caller, base_url: str) -> None:
    assert_problem(await acme.http.get(f"/api/v1/signals/{uuid.uuid4()}"), 404)
    async with httpx.AsyncClient(base_url=base_url) as anonymous:
        response = await anonymous.post("/api/v1/signals", json={"name": "n", "key": "k"})
    assert_problem(response, 401)
