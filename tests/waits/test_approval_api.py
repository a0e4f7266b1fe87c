"""HumanInLoop over real HTTP with real workers: a task gated by a person's approval
waits parked (no worker holds it) and runs only once approved."""

from __future__ import annotations

import pytest

from tests.api.conftest import assert_problem
from tests.batches.http import Caller, acme, base_url, globex
from tests.waits.http import SCHEMA, approval, event_types, timeline, wait_task, waiting_registry
from tests.workers.conftest import StartWorker

__all__ = ["acme", "base_url", "globex"]  # fixtures: the real API under Hypercorn


async def test_an_approved_task_runs_and_its_handler_sees_the_approval(
    acme: Caller, start_worker: StartWorker
) -> None:
    runs: list[str] = []
    await start_worker(waiting_registry(runs))
    created = await acme.http.post("/api/v1/tasks", json=approval(schema=SCHEMA))
    assert created.status_code == 202, created.text
    task = created.json()
    assert task["status"] == "Created"
    waiting = task["waitingFor"]
    assert (waiting["kind"], waiting["question"], waiting["schema"]) == (
        "approval",
        "Ship order 7?",
        SCHEMA,
    )
    assert waiting["deadline"] is None and waiting["since"]
    assert runs == []  # the worker is idle: the task is not claimable while it waits

    decided = await acme.http.post(
        f"/api/v1/tasks/{task['id']}/decision",
        json={"decision": "approve", "input": {"amount": 3}, "decidedBy": "ana"},
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["decision"]["kind"] == "approval"
    assert body["task"]["status"] in {"Queued", "Running", "Succeeded"}
    assert body["task"]["waitingFor"] is None

    done = await wait_task(acme, task["id"], {"Succeeded"})
    assert done["result"] == {"decision": "approve", "input": {"amount": 3}, "by": "ana"}
    assert runs == ["gated"]
    events = await timeline(acme, task["id"])
    assert event_types(events) == [
        "TaskAwaitingInput",
        "TaskDecided",
        "TaskRunning",
        "TaskSucceeded",
    ]


async def test_a_rejected_task_is_cancelled_and_never_runs(
    acme: Caller, start_worker: StartWorker
) -> None:
    runs: list[str] = []
    await start_worker(waiting_registry(runs))
    task = (await acme.http.post("/api/v1/tasks", json=approval())).json()
    decided = await acme.http.post(
        f"/api/v1/tasks/{task['id']}/decision",
        json={"decision": "reject", "comment": "not today"},
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["task"]["status"] == "Cancelled"
    # A task the worker would run is queued after it: once that ran, the gated one
    # would have run too had it been released.
    other = (await acme.http.post("/api/v1/tasks", json={"type": "demo.noop"})).json()
    await wait_task(acme, other["id"], {"Succeeded"})
    after = (await acme.http.get(f"/api/v1/tasks/{task['id']}")).json()
    assert (after["status"], after["attemptCount"], after["lastError"]) == (
        "Cancelled",
        0,
        "rejected by a person",
    )
    assert runs == []
    assert event_types(await timeline(acme, task["id"])) == ["TaskAwaitingInput", "TaskDecided"]


@pytest.mark.parametrize(
    ("on_deadline", "ends", "ran"),
    [
        ("reject", "Cancelled", False),
        ("approve", "Succeeded", True),
        ("deadLetter", "DeadLetter", False),
    ],
)
async def test_an_approval_nobody_gives_ends_as_its_deadline_says(
    acme: Caller, start_worker: StartWorker, on_deadline: str, ends: str, ran: bool
) -> None:
    runs: list[str] = []
    await start_worker(waiting_registry(runs))
    body = approval(deadlineSeconds=1, onDeadline=on_deadline)
    task = (await acme.http.post("/api/v1/tasks", json=body)).json()
    assert task["waitingFor"]["deadline"] is not None
    assert task["waitingFor"]["onDeadline"] == on_deadline

    done = await wait_task(acme, task["id"], {ends})
    assert runs == (["gated"] if ran else [])
    if ran:
        assert done["result"]["by"] == "deadline"
    else:
        assert done["lastError"] == "no answer before the deadline"
    events = await timeline(acme, task["id"])
    [timed_out] = [e for e in events if e["eventType"] == "TaskWaitTimedOut"]
    assert timed_out["detail"]["onDeadline"] == on_deadline
    late = await acme.http.post(
        f"/api/v1/tasks/{task['id']}/decision", json={"decision": "approve"}
    )
    assert_problem(late, 409)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "gated", "approval": {"question": "ok?"}}, "approval"),
        ({"type": "gated", "executionType": "HumanInLoop"}, "approval"),
        (approval(""), "approval.question"),
        (approval("x" * 2001), "approval.question"),
        (approval(schema={"type": "no-such-type"}), "approval.schema"),
        (approval(deadlineSeconds=0), "approval.deadlineSeconds"),
        (approval(deadlineSeconds=366 * 86_400 + 1), "approval.deadlineSeconds"),
        (approval(onDeadline="ignore"), "approval.onDeadline"),
        ({**approval(), "waitFor": {"signal": "paid", "key": "o-1"}}, "waitFor"),
    ],
)
async def test_an_approval_that_cannot_be_is_a_422_naming_the_field(
    acme: Caller, body: dict[str, object], field: str
) -> None:
    response = await acme.http.post("/api/v1/tasks", json=body)
    problem = assert_problem(response, 422)
    assert field in [e["field"] for e in problem["errors"]], problem
    listed = await acme.http.get("/api/v1/tasks")
    assert listed.json()["total"] == 0


async def test_the_approval_is_part_of_the_idempotency_fingerprint(acme: Caller) -> None:
    headers = {"Idempotency-Key": "gate-1"}
    first = await acme.http.post("/api/v1/tasks", json=approval("A?"), headers=headers)
    again = await acme.http.post("/api/v1/tasks", json=approval("A?"), headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = await acme.http.post("/api/v1/tasks", json=approval("B?"), headers=headers)
    assert_problem(other, 422)


async def test_a_task_can_wait_for_a_signal_before_it_starts(acme: Caller) -> None:
    body = {
        "type": "demo.noop",
        "executionType": "EventDriven",
        "waitFor": {"signal": "payment", "key": "order-7", "timeoutSeconds": 600},
    }
    task = (await acme.http.post("/api/v1/tasks", json=body)).json()
    assert task["status"] == "Created"
    waiting = task["waitingFor"]
    assert (waiting["kind"], waiting["signal"], waiting["key"], waiting["onDeadline"]) == (
        "signal",
        "payment",
        "order-7",
        "deadLetter",
    )
    decided = await acme.http.post(
        f"/api/v1/tasks/{task['id']}/decision", json={"decision": "approve"}
    )
    assert "signal" in assert_problem(decided, 409)["detail"]
