"""Sagas over real HTTP with real workers: steps in order, compensations newest first."""

from __future__ import annotations

import asyncio

from tests.api.conftest import assert_problem
from tests.batches.http import Caller, acme, base_url, globex
from tests.sagas.http import compensation_run_order, events, step, wait_saga
from tests.workers.conftest import StartWorker

__all__ = ["acme", "base_url", "globex"]  # fixtures: the real API under Hypercorn


async def test_a_saga_runs_its_steps_in_order_and_completes(
    acme: Caller, start_worker: StartWorker
) -> None:
    steps = [step("demo.sleep", payload={"seconds": 0.01}) for _ in range(3)]
    created = await acme.http.post("/api/v1/sagas", json={"steps": steps})
    assert created.status_code == 201, created.text
    saga = created.json()
    assert created.headers["location"] == f"/api/v1/sagas/{saga['id']}"
    assert [s["status"] for s in saga["steps"]] == ["Queued", "Created", "Created"]
    await start_worker()

    done = await wait_saga(acme, saga["id"], {"Succeeded"})
    assert (done["phase"], done["outcome"]) == ("completed", "completed")
    assert [s["status"] for s in done["steps"]] == ["Succeeded"] * 3
    assert [s["compensationStatus"] for s in done["steps"]] == [None] * 3
    assert events(done) == ["SagaStarted", "SagaStepReleased", "SagaStepReleased", "SagaCompleted"]
    finished = [
        e["occurredAt"]
        for e in done["timeline"]
        if e["eventType"] == "TaskSucceeded" and e["taskId"] != done["id"]
    ]
    assert finished == sorted(finished) and len(finished) == 3


async def test_a_step_payload_takes_an_earlier_steps_result_when_released(
    acme: Caller, start_worker: StartWorker
) -> None:
    steps = [
        step("demo.sleep", name="first", payload={"seconds": 0.02}),
        step("demo.sleep", payload={"seconds": {"$fromStep": "first", "path": "slept"}}),
        step("demo.sleep", payload={"seconds": 0, "all": [{"$fromStep": 1}]}),
    ]
    saga = (await acme.http.post("/api/v1/sagas", json={"steps": steps})).json()
    held = (await acme.http.get(f"/api/v1/tasks/{saga['steps'][1]['taskId']}")).json()
    assert held["payload"]["seconds"] == {"$fromStep": "first", "path": "slept"}
    await start_worker()

    await wait_saga(acme, saga["id"], {"Succeeded"})
    second = (await acme.http.get(f"/api/v1/tasks/{saga['steps'][1]['taskId']}")).json()
    third = (await acme.http.get(f"/api/v1/tasks/{saga['steps'][2]['taskId']}")).json()
    assert second["payload"]["seconds"] == 0.02
    assert third["payload"]["all"] == [{"slept": 0.02}]


async def test_a_reference_to_a_later_step_is_refused(acme: Caller) -> None:
    steps = [step("demo.noop", payload={"x": {"$fromStep": 1}}), step("demo.noop")]
    response = await acme.http.post("/api/v1/sagas", json={"steps": steps})
    assert_problem(response, 422)
    assert "not an earlier step" in response.text


async def test_when_the_last_step_dead_letters_compensations_run_newest_first(
    acme: Caller, start_worker: StartWorker
) -> None:
    steps = [step("demo.noop"), step("demo.noop"), step("demo.fail")]
    saga = (await acme.http.post("/api/v1/sagas", json={"steps": steps})).json()
    await start_worker()

    done = await wait_saga(acme, saga["id"], {"DeadLetter"})
    assert (done["phase"], done["outcome"], done["failedStep"]) == ("compensated", "compensated", 2)
    # The failed step ran once, so it is compensated too (compensateFailedStep), first.
    assert compensation_run_order(done) == [2, 1, 0]
    assert [s["compensationStatus"] for s in done["steps"]] == ["Succeeded"] * 3
    ended = {
        e["taskId"]: e["occurredAt"] for e in done["timeline"] if e["eventType"] == "TaskSucceeded"
    }
    times = [ended[s["compensationTaskId"]] for s in reversed(done["steps"])]
    assert times == sorted(times)
    assert events(done) == [
        "SagaStarted",
        "SagaStepReleased",
        "SagaStepReleased",
        "SagaCompensating",
        "SagaStepReleased",
        "SagaStepReleased",
        "SagaStepReleased",
        "SagaCompleted",
    ]


async def test_the_failed_step_is_not_compensated_when_asked_not_to(
    acme: Caller, start_worker: StartWorker
) -> None:
    steps = [step("demo.noop"), step("demo.noop"), step("demo.fail")]
    body = {"steps": steps, "compensateFailedStep": False}
    saga = (await acme.http.post("/api/v1/sagas", json=body)).json()
    await start_worker()

    done = await wait_saga(acme, saga["id"], {"DeadLetter"})
    assert compensation_run_order(done) == [1, 0]
    assert done["steps"][2]["compensationStatus"] is None


async def test_a_failing_compensation_is_retried_then_named_and_the_rest_do_not_run(
    acme: Caller, start_worker: StartWorker
) -> None:
    flaky = {
        "type": "demo.flaky",
        "payload": {"failTimes": 5},
        "maxAttempts": 2,
        "retryPolicy": {"baseSeconds": 0.01, "maxSeconds": 0.01},
    }
    steps = [step("demo.noop"), {**step("demo.noop"), "compensation": flaky}, step("demo.fail")]
    saga = (await acme.http.post("/api/v1/sagas", json={"steps": steps})).json()
    await start_worker()

    done = await wait_saga(acme, saga["id"], {"DeadLetter"})
    assert (done["outcome"], done["failedStep"], done["failedCompensationStep"]) == (
        "compensation_failed",
        2,
        1,
    )
    by_step = {s["position"]: s for s in done["steps"]}
    assert (by_step[1]["compensationStatus"], by_step[1]["compensationAttempts"]) == (
        "DeadLetter",
        2,
    )
    assert by_step[2]["compensationStatus"] == "Succeeded"
    assert by_step[0]["compensationStatus"] == "Cancelled"  # never ran


async def test_cancelling_a_running_saga_stops_its_step_and_compensates(
    acme: Caller, start_worker: StartWorker
) -> None:
    steps = [step("demo.noop"), step("demo.sleep", payload={"seconds": 30}), step("demo.noop")]
    saga = (await acme.http.post("/api/v1/sagas", json={"steps": steps})).json()
    await start_worker()
    for _ in range(200):
        now = (await acme.http.get(f"/api/v1/sagas/{saga['id']}")).json()
        if now["steps"][1]["status"] == "Running":
            break
        await asyncio.sleep(0.05)

    cancelled = await acme.http.post(f"/api/v1/sagas/{saga['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    done = await wait_saga(acme, saga["id"], {"Cancelled"})
    assert [s["status"] for s in done["steps"]] == ["Succeeded", "Cancelled", "Cancelled"]
    assert (done["outcome"], done["failedStep"]) == ("compensated", 1)
    assert compensation_run_order(done) == [1, 0]
    assert [s["compensationStatus"] for s in done["steps"][:2]] == ["Succeeded", "Succeeded"]
    again = await acme.http.post(f"/api/v1/sagas/{saga['id']}/cancel")
    assert assert_problem(again, 409)["type"].endswith("/saga-not-running")


async def test_creating_with_an_idempotency_key_is_safe_to_retry(acme: Caller) -> None:
    body = {"steps": [step("demo.noop"), step("demo.noop")]}
    headers = {"Idempotency-Key": "saga-1"}
    first = await acme.http.post("/api/v1/sagas", json=body, headers=headers)
    again = await acme.http.post("/api/v1/sagas", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other = await acme.http.post(
        "/api/v1/sagas", json={"steps": [step("demo.noop")]}, headers=headers
    )
    assert_problem(other, 422)


async def test_another_tenants_saga_is_not_found(acme: Caller, globex: Caller) -> None:
    saga = (await acme.http.post("/api/v1/sagas", json={"steps": [step("demo.noop")]})).json()
    assert_problem(await globex.http.get(f"/api/v1/sagas/{saga['id']}"), 404)
