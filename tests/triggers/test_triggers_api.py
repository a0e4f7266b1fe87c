"""/api/v1/triggers over real HTTP and Postgres: create, list, show, pause, resume,
delete; tenant isolation on every endpoint; bad filters and templates are 422s.

Most triggers here wait for TaskQueued, so posting a task fires them at once, in the
request's own transaction: no worker is needed to see them work."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from app.cli import main
from tests.api.conftest import Caller, assert_problem
from tests.triggers.conftest import (
    OCR_TO_SUMMARIZE,
    Conn,
    new_trigger,
    post_task,
    problem_fields,
    tasks_of_type,
)

ON_QUEUED_DOC: dict[str, Any] = {
    "name": "index-new-docs",
    "on": {"eventTypes": ["TaskQueued"], "taskTypes": ["doc"]},
    "task": {
        "type": "index",
        "priority": 2,
        "payload": {"doc": {"$from": "event.taskId"}, "title": {"$from": "task.payload.title"}},
    },
}


async def test_a_trigger_is_created_listed_and_shown(acme: Caller) -> None:
    response = await acme.http.post("/api/v1/triggers", json=OCR_TO_SUMMARIZE)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/api/v1/triggers/{created['id']}"
    assert created["on"] == {
        "kind": "event",
        "eventTypes": ["TaskSucceeded"],
        "statuses": None,
        "taskTypes": ["ocr"],
        "signal": None,
    }
    # Every default is filled in when the trigger is created.
    assert created["task"]["type"] == "summarize"
    assert (created["task"]["priority"], created["task"]["maxAttempts"]) == (5, 3)
    assert created["task"]["executionType"] == "Async"
    assert (created["active"], created["firedCount"], created["skippedCount"]) == (True, 0, 0)

    listed = (await acme.http.get("/api/v1/triggers")).json()["items"]
    assert [t["id"] for t in listed] == [created["id"]]
    shown = await acme.http.get(f"/api/v1/triggers/{created['id']}")
    assert shown.status_code == 200 and shown.json() == created


async def test_a_task_event_starts_the_triggers_task_in_the_same_transaction(
    acme: Caller, conn: Conn
) -> None:
    trigger = await new_trigger(acme, ON_QUEUED_DOC)
    doc = await post_task(acme, "doc", payload={"title": "Annual report"})
    # The POST has returned: the task it started is there already, queued.
    [index] = await tasks_of_type(conn, "index")
    assert index["status"] == "Queued" and index["depth"] == 1
    assert index["payload"] == {"doc": doc["id"], "title": "Annual report"}
    shown = (await acme.http.get(f"/api/v1/tasks/{index['id']}")).json()
    assert shown["priority"] == 2
    events = (await acme.http.get(f"/api/v1/tasks/{index['id']}/events")).json()["items"]
    assert events[0]["eventType"] == "TaskQueued"
    origin = events[0]["detail"]["trigger"]
    assert (origin["id"], origin["sourceTaskId"], origin["depth"]) == (trigger["id"], doc["id"], 1)
    after = (await acme.http.get(f"/api/v1/triggers/{trigger['id']}")).json()
    assert after["firedCount"] == 1 and after["lastFiredAt"] is not None


async def test_a_paused_trigger_starts_nothing_until_it_is_resumed(
    acme: Caller, conn: Conn
) -> None:
    trigger = await new_trigger(acme, ON_QUEUED_DOC)
    paused = await acme.http.post(f"/api/v1/triggers/{trigger['id']}/pause")
    assert paused.status_code == 200 and paused.json()["active"] is False
    await post_task(acme, "doc", payload={"title": "while paused"})
    assert await tasks_of_type(conn, "index") == []

    resumed = await acme.http.post(f"/api/v1/triggers/{trigger['id']}/resume")
    assert resumed.status_code == 200 and resumed.json()["active"] is True
    await post_task(acme, "doc", payload={"title": "after resume"})
    started = await tasks_of_type(conn, "index")
    # Only the event after the resume: nothing that happened while paused is replayed.
    assert [t["payload"]["title"] for t in started] == ["after resume"]


async def test_a_deleted_trigger_is_gone_and_starts_nothing(acme: Caller, conn: Conn) -> None:
    trigger = await new_trigger(acme, ON_QUEUED_DOC)
    await post_task(acme, "doc")
    deleted = await acme.http.delete(f"/api/v1/triggers/{trigger['id']}")
    assert deleted.status_code == 204
    assert_problem(await acme.http.get(f"/api/v1/triggers/{trigger['id']}"), 404)
    assert_problem(await acme.http.delete(f"/api/v1/triggers/{trigger['id']}"), 404)
    await post_task(acme, "doc")
    # The task it started before stays; the second doc starts nothing.
    assert len(await tasks_of_type(conn, "index")) == 1


async def test_another_tenants_trigger_is_a_404_on_every_endpoint(
    acme: Caller, globex: Caller
) -> None:
    trigger = await new_trigger(acme, ON_QUEUED_DOC)
    at = f"/api/v1/triggers/{trigger['id']}"
    for response in (
        await globex.http.get(at),
        await globex.http.post(f"{at}/pause"),
        await globex.http.post(f"{at}/resume"),
        await globex.http.delete(at),
    ):
        body = assert_problem(response, 404)
        assert body["type"].endswith("/trigger-not-found")
    assert (await globex.http.get("/api/v1/triggers")).json()["items"] == []
    # Untouched by all that.
    assert (await acme.http.get(at)).json()["active"] is True


async def test_another_tenants_events_never_fire_a_trigger(
    acme: Caller, globex: Caller, conn: Conn
) -> None:
    await new_trigger(acme, ON_QUEUED_DOC)
    await post_task(globex, "doc")
    assert await tasks_of_type(conn, "index") == []
    # The same name is free in another tenant; it fires on that tenant's events only.
    await new_trigger(globex, ON_QUEUED_DOC)
    await post_task(globex, "doc")
    [index] = await tasks_of_type(conn, "index")
    assert index["tenant_id"] == globex.tenant_id


async def test_a_name_is_used_once_per_tenant(acme: Caller) -> None:
    await new_trigger(acme, ON_QUEUED_DOC)
    again = await acme.http.post("/api/v1/triggers", json=ON_QUEUED_DOC)
    assert assert_problem(again, 409)["type"].endswith("/trigger-name-taken")


def with_payload(payload: dict[str, Any], on: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": "t",
        "on": on or {"eventTypes": ["TaskSucceeded"], "taskTypes": ["ocr"]},
        "task": {"type": "summarize", "payload": payload},
    }


async def test_a_template_naming_a_field_the_event_has_not_is_a_422_naming_it(
    acme: Caller,
) -> None:
    cases = [
        ({"text": {"$from": "event.colour"}}, "task.payload.text.$from"),
        ({"a": [1, {"b": {"$from": "nothing.here"}}]}, "task.payload.a.1.b.$from"),
        ({"text": {"$from": "event.taskId.more"}}, "task.payload.text.$from"),
        ({"text": {"$from": "task.secret"}}, "task.payload.text.$from"),
        ({"text": {"$from": "signal.data"}}, "task.payload.text.$from"),
        ({"text": {"$from": "event"}}, "task.payload.text.$from"),
        ({"text": {"$from": "event..id"}}, "task.payload.text.$from"),
        ({"text": {"$from": 7}}, "task.payload.text.$from"),
        ({"text": {"$from": "result", "default": 1}}, "task.payload.text"),
        ({"$from": "result"}, "task.payload.$from"),
    ]
    for payload, field in cases:
        response = await acme.http.post("/api/v1/triggers", json=with_payload(payload))
        body = assert_problem(response, 422)
        assert body["type"].endswith("/invalid-trigger"), body
        assert problem_fields(response) == [field], (payload, body)
    assert (await acme.http.get("/api/v1/triggers")).json()["items"] == []


async def test_the_result_is_refused_where_the_event_can_never_be_a_success(
    acme: Caller,
) -> None:
    body = with_payload({"r": {"$from": "result.text"}}, on={"eventTypes": ["TaskFailed"]})
    response = await acme.http.post("/api/v1/triggers", json=body)
    assert problem_fields(response) == ["task.payload.r.$from"]
    assert "success" in response.json()["errors"][0]["message"]
    body = with_payload({"r": {"$from": "result"}}, on={"statuses": ["DeadLetter"]})
    assert problem_fields(await acme.http.post("/api/v1/triggers", json=body)) == [
        "task.payload.r.$from"
    ]


async def test_a_signal_trigger_reads_only_the_signal(acme: Caller) -> None:
    ok = with_payload(
        {"url": {"$from": "signal.data.url"}, "key": {"$from": "signal.key"}},
        on={"signal": "document.uploaded"},
    )
    created = await new_trigger(acme, ok)
    assert created["on"]["kind"] == "signal" and created["on"]["signal"] == "document.uploaded"
    bad = with_payload({"t": {"$from": "event.taskId"}}, on={"signal": "document.uploaded"})
    bad["name"] = "other"
    assert problem_fields(await acme.http.post("/api/v1/triggers", json=bad)) == [
        "task.payload.t.$from"
    ]


async def test_bad_filters_are_422s_naming_the_field(acme: Caller) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "on"),
        ({"eventTypes": ["TaskExploded"]}, "on.eventTypes.0"),
        ({"eventTypes": []}, "on.eventTypes"),
        ({"statuses": ["Finished"]}, "on.statuses.0"),
        ({"taskTypes": ["bad type"]}, "on.taskTypes.0"),
        ({"signal": "x", "taskTypes": ["ocr"]}, "on"),
        ({"eventTypes": "TaskSucceeded"}, "on.eventTypes"),
    ]
    for on, field in cases:
        body = {"name": "t", "on": on, "task": {"type": "summarize"}}
        response = await acme.http.post("/api/v1/triggers", json=body)
        assert_problem(response, 422)
        assert field in problem_fields(response), (on, response.json())


async def test_a_task_spec_the_tasks_endpoint_would_refuse_is_refused_here_too(
    acme: Caller,
) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"type": "bad type"}, "task.type"),
        ({"type": "x", "priority": 11}, "task.priority"),
        ({"type": "x", "executionType": "Saga"}, "task.executionType"),
        ({"type": "x", "scheduledAt": "2030-01-01T00:00:00Z"}, "task.scheduledAt"),
        ({"type": "x", "payload": {"t": "nul\u0000"}}, "task.payload"),
        ({"type": "x", "surprise": 1}, "task.surprise"),
    ]
    for task, field in cases:
        body = {"name": "t", "on": {"taskTypes": ["ocr"]}, "task": task}
        response = await acme.http.post("/api/v1/triggers", json=body)
        assert_problem(response, 422)
        assert field in problem_fields(response), (task, response.json())


async def test_the_cli_lists_a_tenants_triggers(
    acme: Caller, database_url: str, tmp_path: Path
) -> None:
    trigger = await new_trigger(acme, OCR_TO_SUMMARIZE)
    await acme.http.post(f"/api/v1/triggers/{trigger['id']}/pause")
    env = {"DATABASE_URL": database_url, "LOG_DIR": str(tmp_path), "LOG_CONSOLE": "false"}
    args = ["triggers", "list", "--tenant", str(acme.tenant_id)]
    result = await asyncio.to_thread(CliRunner().invoke, main, args, env=env)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{trigger['id']}  summarize-after-ocr  paused  on TaskSucceeded of ocr -> summarize"
        "  fired 0, skipped 0"
    ]


async def test_a_signal_sent_over_the_api_starts_its_triggers_task_once(
    acme: Caller, conn: Conn
) -> None:
    trigger = with_payload(
        {"url": {"$from": "signal.data.url"}, "key": {"$from": "signal.key"}},
        on={"signal": "document.uploaded"},
    )
    created = await new_trigger(acme, trigger)
    signal = {"id": "0193a4a0-0000-7000-8000-0000000000aa", "name": "document.uploaded"}
    signal |= {"key": "doc-7", "data": {"url": "s3://bucket/doc-7.pdf"}}
    first = await acme.http.post("/api/v1/signals", json=signal)
    assert first.status_code == 201, first.text
    replay = await acme.http.post("/api/v1/signals", json=signal)
    assert replay.status_code == 200, replay.text
    other_name = await acme.http.post("/api/v1/signals", json={"name": "other", "key": "doc-7"})
    assert other_name.status_code == 201
    started = await tasks_of_type(conn, created["task"]["type"])
    assert [t["payload"] for t in started] == [{"url": "s3://bucket/doc-7.pdf", "key": "doc-7"}]
    shown = (await acme.http.get(f"/api/v1/triggers/{created['id']}")).json()
    assert shown["firedCount"] == 1


async def test_a_chain_that_widens_stops_at_1000_tasks_from_one_event(
    acme: Caller, conn: Conn
) -> None:
    # Three triggers that each start a `fan` task on every queued `fan` task: within the
    # depth limit alone one task would lead to 3 + 9 + … + 3**8 = 9 840 tasks.
    for n in range(3):
        fan = {"eventTypes": ["TaskQueued"], "taskTypes": ["fan"]}
        await new_trigger(acme, {"name": f"fan-{n}", "on": fan, "task": {"type": "fan"}})
    started = asyncio.get_running_loop().time()
    root = await post_task(acme, "fan")
    took = asyncio.get_running_loop().time() - started
    tasks = await tasks_of_type(conn, "fan")
    assert len(tasks) == 1 + 1000, len(tasks)  # the root and its chain's 1 000
    assert max(t["depth"] or 0 for t in tasks) <= 8
    cursor = await conn.execute(
        "SELECT started FROM task_trigger_chains WHERE root_id = %s", (root["id"],)
    )
    assert (await cursor.fetchone() or (0,))[0] > 1000  # it tried past the limit
    listed = (await acme.http.get("/api/v1/triggers")).json()["items"]
    assert sum(t["skippedCount"] for t in listed) > 0
    assert any("chain limit 1000" in (t["lastError"] or "") for t in listed)
    assert took < 30, took
