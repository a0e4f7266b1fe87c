"""POST /api/v1/tasks/{id}/decision over real HTTP with real workers: input a handler
asks for mid-run, checked against its schema; conflicts; the decider on the timeline;
the waiting list; tenants kept apart."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import assert_problem
from tests.batches.http import Caller, acme, base_url, globex
from tests.waits.http import SCHEMA, approval, event_types, timeline, wait_task, waiting_registry
from tests.workers.conftest import StartWorker

__all__ = ["acme", "base_url", "globex"]  # fixtures: the real API under Hypercorn


async def parked_refund(acme: Caller, start_worker: StartWorker, runs: list[str]) -> dict[str, Any]:
    await start_worker(waiting_registry(runs))
    task = (await acme.http.post("/api/v1/tasks", json={"type": "refund"})).json()
    return await wait_task(acme, task["id"], {"Created"}, parked=True)


async def test_a_handler_asks_for_input_mid_run_and_resumes_with_the_decision(
    acme: Caller, start_worker: StartWorker
) -> None:
    runs: list[str] = []
    task = await parked_refund(acme, start_worker, runs)
    waiting = task["waitingFor"]
    assert (waiting["kind"], waiting["question"], waiting["schema"]) == (
        "input",
        "How much to refund?",
        SCHEMA,
    )
    assert (task["attemptCount"], runs) == (0, ["refund"])  # the wait used no attempt

    decided = await acme.http.post(
        f"/api/v1/tasks/{task['id']}/decision",
        json={"decision": "approve", "input": {"amount": 120}, "decidedBy": "ana"},
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["decision"]["kind"] == "input"

    done = await wait_task(acme, task["id"], {"Succeeded"})
    assert done["result"] == {"approved": True, "input": {"amount": 120}, "by": "ana"}
    assert runs == ["refund", "refund"]  # it ran again from the top, with the answer
    assert event_types(await timeline(acme, task["id"])) == [
        "TaskQueued",
        "TaskRunning",
        "TaskAwaitingInput",
        "TaskDecided",
        "TaskRunning",
        "TaskSucceeded",
    ]


async def test_the_decider_is_on_the_timeline_with_the_api_key_that_sent_it(
    acme: Caller, database_url: str
) -> None:
    task = (await acme.http.post("/api/v1/tasks", json=approval())).json()
    decided = await acme.http.post(
        f"/api/v1/tasks/{task['id']}/decision", json={"decision": "reject", "decidedBy": "ana"}
    )
    key_id = decided.json()["decision"]["apiKeyId"]
    assert key_id is not None
    [event] = [e for e in await timeline(acme, task["id"]) if e["eventType"] == "TaskDecided"]
    assert event["detail"] == {
        "kind": "approval",
        "waitKey": "approval",
        "decision": "reject",
        "decidedBy": "ana",
        "apiKeyId": key_id,
    }
    assert event["status"] == "Cancelled"


async def test_input_that_does_not_match_the_schema_is_a_422_and_changes_nothing(
    acme: Caller, start_worker: StartWorker
) -> None:
    task = await parked_refund(acme, start_worker, [])
    url = f"/api/v1/tasks/{task['id']}/decision"
    wrong = await acme.http.post(url, json={"decision": "approve", "input": {"amount": "lots"}})
    problem = assert_problem(wrong, 422)
    assert [e["field"] for e in problem["errors"]] == ["input.amount"]
    missing = await acme.http.post(url, json={"decision": "approve"})
    assert [e["field"] for e in assert_problem(missing, 422)["errors"]] == ["input"]

    after = (await acme.http.get(f"/api/v1/tasks/{task['id']}")).json()
    assert (
        after["status"],
        after["waitingFor"],
        after["updatedAt"],
    ) == (
        "Created",
        task["waitingFor"],
        task["updatedAt"],
    )
    assert "TaskDecided" not in event_types(await timeline(acme, task["id"]))
    # a rejection needs no input
    assert (await acme.http.post(url, json={"decision": "reject"})).status_code == 200


async def test_a_malformed_decision_is_a_422_naming_the_field(acme: Caller) -> None:
    task = (await acme.http.post("/api/v1/tasks", json=approval())).json()
    url = f"/api/v1/tasks/{task['id']}/decision"
    for body, field in (
        ({"decision": "maybe"}, "decision"),
        ({}, "decision"),
        ({"decision": "approve", "decidedBy": ""}, "decidedBy"),
        ({"decision": "approve", "decidedBy": "x" * 201}, "decidedBy"),
        ({"decision": "approve", "extra": 1}, "extra"),
    ):
        problem = assert_problem(await acme.http.post(url, json=body), 422)
        assert field in [e["field"] for e in problem["errors"]], (body, problem)
    assert (await acme.http.get(f"/api/v1/tasks/{task['id']}")).json()["status"] == "Created"


async def test_a_second_decision_is_a_409(acme: Caller) -> None:
    task = (await acme.http.post("/api/v1/tasks", json=approval())).json()
    url = f"/api/v1/tasks/{task['id']}/decision"
    assert (await acme.http.post(url, json={"decision": "reject"})).status_code == 200
    again = await acme.http.post(url, json={"decision": "approve"})
    assert assert_problem(again, 409)["type"].endswith("/already-decided")
    after = (await acme.http.get(f"/api/v1/tasks/{task['id']}")).json()
    assert after["status"] == "Cancelled"


async def test_a_decision_on_a_task_that_is_not_waiting_for_one_is_a_409(
    acme: Caller,
) -> None:
    plain = (await acme.http.post("/api/v1/tasks", json={"type": "demo.noop"})).json()
    response = await acme.http.post(
        f"/api/v1/tasks/{plain['id']}/decision", json={"decision": "approve"}
    )
    assert assert_problem(response, 409)["type"].endswith("/not-waiting-for-decision")

    gated = (await acme.http.post("/api/v1/tasks", json=approval())).json()
    assert (await acme.http.post(f"/api/v1/tasks/{gated['id']}/cancel")).status_code == 200
    cancelled = await acme.http.post(
        f"/api/v1/tasks/{gated['id']}/decision", json={"decision": "approve"}
    )
    assert assert_problem(cancelled, 409)["type"].endswith("/not-waiting-for-decision")


async def test_another_tenants_task_is_a_404_and_is_not_listed(
    acme: Caller, globex: Caller
) -> None:
    task = (await acme.http.post("/api/v1/tasks", json=approval())).json()
    response = await globex.http.post(
        f"/api/v1/tasks/{task['id']}/decision", json={"decision": "approve"}
    )
    assert_problem(response, 404)
    assert (await globex.http.get("/api/v1/tasks?waitingFor=decision")).json()["total"] == 0
    still = (await acme.http.get(f"/api/v1/tasks/{task['id']}")).json()
    assert still["status"] == "Created"
    assert event_types(await timeline(acme, task["id"])) == ["TaskAwaitingInput"]


async def test_waiting_for_lists_what_awaits_people_and_what_awaits_signals(
    acme: Caller, start_worker: StartWorker
) -> None:
    asked = await parked_refund(acme, start_worker, [])
    gated = (await acme.http.post("/api/v1/tasks", json=approval())).json()
    signal = {"type": "demo.noop", "waitFor": {"signal": "paid", "key": "o-1"}}
    waiting = (await acme.http.post("/api/v1/tasks", json=signal)).json()
    plain = await acme.http.post("/api/v1/tasks", json={"type": "gated", "delaySeconds": 3600})
    assert plain.status_code == 202

    def ids(response: Any) -> list[str]:
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["items"]]

    people = await acme.http.get("/api/v1/tasks", params={"waitingFor": "decision"})
    assert ids(people) == [asked["id"], gated["id"]]  # the longest waiting first
    assert people.headers["x-total-count"] == "2"
    assert [t["waitingFor"]["kind"] for t in people.json()["items"]] == ["input", "approval"]
    signals = await acme.http.get("/api/v1/tasks", params={"waitingFor": "signal"})
    assert ids(signals) == [waiting["id"]]
    every = await acme.http.get("/api/v1/tasks", params={"waitingFor": "any", "type": "gated"})
    assert ids(every) == [gated["id"]]
    page = await acme.http.get("/api/v1/tasks", params={"waitingFor": "any", "pageSize": 1})
    assert ids(page) == [asked["id"]] and 'rel="next"' in page.headers["link"]
    assert "waitingFor=any" in page.headers["link"]
    bad = await acme.http.get("/api/v1/tasks", params={"waitingFor": "godot"})
    assert_problem(bad, 422)


async def test_a_batch_item_may_be_gated_by_an_approval(acme: Caller) -> None:
    body = {"tasks": [approval("first?"), {"type": "demo.noop", "delaySeconds": 3600}]}
    created = await acme.http.post("/api/v1/tasks/batch", json=body)
    assert created.status_code == 202, created.text
    gated, plain = created.json()["tasks"]
    assert (gated["status"], gated["waitingFor"]["question"]) == ("Created", "first?")
    assert (plain["status"], plain["waitingFor"]) == ("Queued", None)
