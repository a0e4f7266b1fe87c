"""Batches over real HTTP, with real workers: fan out, fan in, exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.api.conftest import assert_problem
from tests.batches.http import Caller, acme, base_url, globex, wait_batch
from tests.workers.conftest import StartWorker

__all__ = ["acme", "base_url", "globex"]  # fixtures: the real API under Hypercorn

LATER = 3600  # delaySeconds that keeps a child waiting for the whole test


def noops(count: int, **fields: Any) -> list[dict[str, Any]]:
    return [{"type": "demo.noop", "payload": {"n": n}, **fields} for n in range(count)]


async def test_a_batch_runs_to_completion_and_queues_its_callback_once(
    acme: Caller, start_worker: StartWorker
) -> None:
    created = await acme.http.post(
        "/api/v1/batches",
        json={"tasks": noops(5), "onComplete": {"type": "demo.noop", "payload": {"k": 1}}},
    )
    assert created.status_code == 201, created.text
    batch = created.json()
    assert created.headers["location"] == f"/api/v1/batches/{batch['id']}"
    assert (batch["status"], batch["counts"]["total"], batch["progress"]) == ("Created", 5, 0)
    await start_worker()

    done = await wait_batch(acme, batch["id"], {"Succeeded"})
    assert done["progress"] == 1
    assert done["counts"]["succeeded"] == done["counts"]["done"] == 5
    assert done["counts"]["byStatus"] == {"Succeeded": 5}
    callback = done["callbackTask"]
    assert callback["type"] == "demo.noop"
    summary = callback["payload"]["batch"]
    assert (summary["id"], summary["status"], summary["succeeded"]) == (batch["id"], "Succeeded", 5)
    assert callback["payload"]["k"] == 1
    assert all(c["result"].endswith("/result") for c in summary["children"])
    tasks = (await acme.http.get("/api/v1/tasks", params={"pageSize": 50})).json()["items"]
    assert sum(1 for t in tasks if "batch" in t["payload"]) == 1


async def test_children_are_listed_in_the_order_given_page_by_page(acme: Caller) -> None:
    batch = (await acme.http.post("/api/v1/batches", json={"tasks": noops(5)})).json()
    seen: list[int] = []
    after: str | None = None
    while True:
        params = {"pageSize": 2, **({"after": after} if after else {})}
        page = (await acme.http.get(batch["childrenUrl"], params=params)).json()
        seen += [item["payload"]["n"] for item in page["items"]]
        after = page["nextAfter"]
        if after is None:
            break
    assert seen == [0, 1, 2, 3, 4]


async def test_fail_fast_cancels_the_waiting_children_once_one_is_dead_lettered(
    acme: Caller, start_worker: StartWorker
) -> None:
    tasks = [{"type": "demo.fail"}, *noops(3, delaySeconds=LATER)]
    created = await acme.http.post(
        "/api/v1/batches",
        json={"tasks": tasks, "failurePolicy": "failFast", "onComplete": {"type": "demo.noop"}},
    )
    await start_worker()
    done = await wait_batch(acme, created.json()["id"], {"DeadLetter"})
    assert (done["counts"]["deadLettered"], done["counts"]["cancelled"]) == (1, 3)
    assert done["callbackTask"]["payload"]["batch"]["status"] == "DeadLetter"


async def test_with_continue_the_other_children_still_run(
    acme: Caller, start_worker: StartWorker
) -> None:
    created = await acme.http.post(
        "/api/v1/batches", json={"tasks": [{"type": "demo.fail"}, *noops(3)]}
    )
    await start_worker()
    done = await wait_batch(acme, created.json()["id"], {"DeadLetter"})
    assert (done["counts"]["deadLettered"], done["counts"]["succeeded"]) == (1, 3)
    assert done["callbackTaskId"] is None  # no onComplete given


async def test_cancelling_a_batch_cancels_its_children_and_calls_nothing_back(
    acme: Caller, start_worker: StartWorker
) -> None:
    tasks = [{"type": "demo.sleep", "payload": {"seconds": 30}}, *noops(3, delaySeconds=LATER)]
    created = await acme.http.post(
        "/api/v1/batches", json={"tasks": tasks, "onComplete": {"type": "demo.noop"}}
    )
    batch_id = created.json()["id"]
    await start_worker()
    for _ in range(200):
        body = (await acme.http.get(f"/api/v1/batches/{batch_id}")).json()
        if body["counts"]["byStatus"].get("Running"):
            break
        await asyncio.sleep(0.05)
    cancelled = await acme.http.post(f"/api/v1/batches/{batch_id}/cancel")
    assert cancelled.json()["outcome"] == "requested"  # one child is still stopping
    done = await wait_batch(acme, batch_id, {"Cancelled"})
    assert done["counts"]["cancelled"] == 4
    assert done["callbackTaskId"] is None
    again = await acme.http.post(f"/api/v1/batches/{batch_id}/cancel")
    assert_problem(again, 409)


async def test_creating_a_batch_is_idempotent_with_an_idempotency_key(acme: Caller) -> None:
    body = {"tasks": noops(3), "onComplete": {"type": "demo.noop"}}
    headers = {"Idempotency-Key": "nightly-2026-12-03"}
    first = await acme.http.post("/api/v1/batches", json=body, headers=headers)
    replay = await acme.http.post("/api/v1/batches", json=body, headers=headers)
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    tasks = (await acme.http.get("/api/v1/tasks", params={"pageSize": 50})).json()
    assert tasks["total"] == 4  # the batch and its three tasks, once

    other = await acme.http.post("/api/v1/batches", json={"tasks": noops(4)}, headers=headers)
    assert_problem(other, 422)


async def test_a_batch_takes_ten_thousand_tasks_in_one_request(acme: Caller) -> None:
    created = await acme.http.post(
        "/api/v1/batches", json={"tasks": noops(10_000, delaySeconds=LATER)}, timeout=60
    )
    assert created.status_code == 201, created.text
    assert created.json()["counts"]["byStatus"] == {"Queued": 10_000}


async def test_an_empty_or_oversized_batch_is_a_422(acme: Caller) -> None:
    assert_problem(await acme.http.post("/api/v1/batches", json={"tasks": []}), 422)
    too_many = await acme.http.post("/api/v1/batches", json={"tasks": noops(10_001)}, timeout=60)
    assert_problem(too_many, 422)


async def test_another_tenants_batch_is_not_found(acme: Caller, globex: Caller) -> None:
    batch = (await acme.http.post("/api/v1/batches", json={"tasks": noops(1)})).json()
    assert_problem(await globex.http.get(f"/api/v1/batches/{batch['id']}"), 404)
    assert_problem(await globex.http.post(f"/api/v1/batches/{batch['id']}/cancel"), 404)
    assert_problem(await globex.http.get(f"/api/v1/batches/{batch['id']}/children"), 404)


async def test_batches_drained_by_two_workers_each_complete_once(
    acme: Caller, start_worker: StartWorker
) -> None:
    """The last children of a batch end on two workers at once, again and again: each
    batch completes once and queues one callback."""
    ids = []
    for _ in range(20):
        created = await acme.http.post(
            "/api/v1/batches", json={"tasks": noops(10), "onComplete": {"type": "demo.noop"}}
        )
        ids.append(created.json()["id"])
    await start_worker(worker_id="one")
    await start_worker(worker_id="two")
    for batch_id in ids:
        done = await wait_batch(acme, batch_id, {"Succeeded"})
        assert (done["counts"]["succeeded"], done["generation"]) == (10, 1)
        events = (await acme.http.get(f"/api/v1/tasks/{batch_id}/events")).json()["items"]
        assert [e["eventType"] for e in events].count("BatchCompleted") == 1
    tasks = (await acme.http.get("/api/v1/tasks", params={"pageSize": 200})).json()
    callbacks = [t for t in tasks["items"] if "batch" in t["payload"]]
    assert sorted(c["payload"]["batch"]["id"] for c in callbacks) == sorted(ids)


async def test_a_batch_body_over_max_payload_bytes_is_a_413(acme: Caller) -> None:
    """The body limit is MAX_PAYLOAD_BYTES (1 MiB here) for a batch as for any body."""
    big = [{"type": "demo.noop", "payload": {"text": "x" * 200}} for _ in range(6000)]
    assert_problem(await acme.http.post("/api/v1/batches", json={"tasks": big}, timeout=60), 413)


async def test_tasks_run_after_those_they_depend_on(
    acme: Caller, start_worker: StartWorker
) -> None:
    tasks = [
        {"name": "fetch", "type": "demo.sleep", "payload": {"seconds": 0.1}},
        {"name": "summarize", "type": "demo.noop", "dependsOn": ["fetch"]},
        {"type": "demo.noop", "dependsOn": ["fetch", "summarize"]},
    ]
    created = await acme.http.post("/api/v1/batches", json={"tasks": tasks})
    assert created.status_code == 201, created.text
    assert created.json()["counts"]["byStatus"] == {"Queued": 1, "Created": 2}
    await start_worker()
    done = await wait_batch(acme, created.json()["id"], {"Succeeded"})
    page = (await acme.http.get(done["childrenUrl"])).json()["items"]
    starts = [task["startedAt"] for task in page]
    finishes = [task["finishedAt"] for task in page]
    assert finishes[0] <= starts[1] and finishes[1] <= starts[2]


@pytest.mark.parametrize(
    ("tasks", "problem"),
    [
        ([{"name": "a", "type": "x", "dependsOn": ["a"]}], "depends on itself"),
        (
            [
                {"name": "a", "type": "x", "dependsOn": ["b"]},
                {"name": "b", "type": "x", "dependsOn": ["a"]},
            ],
            "cycle",
        ),
        ([{"type": "x", "dependsOn": ["nobody"]}], "names no task of the batch"),
        ([{"name": "a", "type": "x"}, {"name": "a", "type": "x"}], "given twice"),
    ],
)
async def test_dependencies_that_are_not_a_dag_are_a_422(
    acme: Caller, tasks: list[dict[str, Any]], problem: str
) -> None:
    body = assert_problem(await acme.http.post("/api/v1/batches", json={"tasks": tasks}), 422)
    assert problem in str(body)


async def test_a_batch_body_that_is_not_json_is_a_415(acme: Caller) -> None:
    response = await acme.http.post(
        "/api/v1/batches", content=b"tasks=1", headers={"Content-Type": "text/plain"}
    )
    assert assert_problem(response, 415)["type"].endswith("/unsupported-media-type")


async def test_children_keep_the_execution_type_they_were_given(acme: Caller) -> None:
    batch = (
        await acme.http.post(
            "/api/v1/batches", json={"tasks": noops(2, executionType="Sync") + noops(1)}
        )
    ).json()
    page = (await acme.http.get(batch["childrenUrl"])).json()
    assert [item["executionType"] for item in page["items"]] == ["Sync", "Sync", "Async"]
