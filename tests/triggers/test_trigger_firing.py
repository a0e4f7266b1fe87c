"""The firing in the database (migration 0017), below the API: the signal path, the
template resolution, a trigger that cannot start its task, the events it publishes."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from app.adapters.postgres.lease_store import PgLeaseStore
from app.adapters.postgres.trigger_store import PgTriggerStore
from app.application.ports import FinishedAttempt
from app.application.task_repository import EnqueueTask
from app.application.tasks import enqueue_task
from app.application.triggers import CreateTrigger, TriggerRecord, create_trigger
from app.bootstrap import Services
from app.domain import outcome
from app.domain.event_catalogue import MODELS
from app.domain.events import EventType
from app.domain.triggers import MAX_TRIGGER_DEPTH, EventFilter, TriggerKind, resolve
from tests.factories import insert_tenant
from tests.triggers.conftest import Conn, tasks_of_type

SPEC = {"priority": 5, "maxAttempts": 3, "executionType": "Async"}


async def make_trigger(
    services: Services, tenant: uuid.UUID, task: dict[str, Any], name: str = "t", **on: Any
) -> TriggerRecord:
    kind = TriggerKind.SIGNAL if "signal_name" in on else TriggerKind.EVENT
    command = CreateTrigger(
        tenant_id=tenant,
        name=name,
        kind=kind,
        task={**SPEC, **task},
        events=EventFilter(**{k: v for k, v in on.items() if k != "signal_name"}),
        signal_name=on.get("signal_name"),
    )
    return await create_trigger(command, triggers=PgTriggerStore(services.pool))


async def fire_signal(conn: Conn, tenant: uuid.UUID, signal_id: uuid.UUID, **signal: Any) -> int:
    cursor = await conn.execute(
        "SELECT triggers_fire_for_signal(%s, %s, %s, %s, %s)",
        (tenant, signal_id, signal["name"], signal.get("key"), Jsonb(signal.get("data"))),
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_a_signal_starts_its_triggers_tasks_once(
    conn: Conn, services: Services, tenant: uuid.UUID
) -> None:
    template = {"url": {"$from": "signal.data.url"}, "doc": {"$from": "signal.key"}}
    trigger = await make_trigger(
        services, tenant, {"type": "ocr", "payload": template}, signal_name="document.uploaded"
    )
    await make_trigger(services, tenant, {"type": "other"}, "x", signal_name="something.else")
    signal_id = uuid.uuid4()
    data = {"url": "https://example.com/7.pdf"}
    started = await fire_signal(
        conn, tenant, signal_id, name="document.uploaded", key="doc-7", data=data
    )
    assert started == 1
    [task] = await tasks_of_type(conn, "ocr")
    assert task["payload"] == {"url": "https://example.com/7.pdf", "doc": "doc-7"}
    assert task["depth"] == 1 and task["status"] == "Queued"
    cursor = await conn.execute(
        "SELECT detail -> 'trigger' FROM task_events WHERE task_id = %s", (task["id"],)
    )
    assert await cursor.fetchone() == (
        {
            "id": str(trigger.id),
            "signalId": str(signal_id),
            "signalName": "document.uploaded",
            "depth": 1,
        },
    )
    # The same signal again (a re-delivery): its task exists already, nothing more starts.
    assert await fire_signal(conn, tenant, signal_id, name="document.uploaded", key="doc-7") == 0
    assert len(await tasks_of_type(conn, "ocr")) == 1
    assert await tasks_of_type(conn, "other") == []


async def test_a_signal_fires_neither_another_tenants_nor_a_paused_trigger(
    conn: Conn, services: Services, tenant: uuid.UUID
) -> None:
    paused = await make_trigger(services, tenant, {"type": "ocr"}, signal_name="doc")
    await PgTriggerStore(services.pool).set_active(tenant, paused.id, False)
    other = await insert_tenant(conn, "globex")
    await make_trigger(services, other, {"type": "ocr"}, signal_name="doc")
    assert await fire_signal(conn, tenant, uuid.uuid4(), name="doc") == 0
    assert await tasks_of_type(conn, "ocr") == []


async def finish(services: Services, result: Any) -> uuid.UUID:
    """Lease the one queued task and finish it, Succeeded, with `result`."""
    store = PgLeaseStore(services.pool)
    (leased,) = await store.lease_available("w1", 5, 30)
    done = FinishedAttempt(leased.id, leased.attempt_id, outcome.SUCCEEDED, json.dumps(result))
    await store.finish_attempts("w1", [done])
    return leased.id


async def test_the_success_of_a_task_starts_the_next_with_its_result_and_trace(
    conn: Conn, services: Services, tenant: uuid.UUID
) -> None:
    template = {
        "first": {"$from": "result.lines.0"},
        "missing": {"$from": "result.nothing.here"},
        "status": {"$from": "event.status"},
        "kind": {"$from": "event.type"},
        "source": {"$from": "task.type"},
    }
    await make_trigger(
        services,
        tenant,
        {"type": "summarize", "payload": template},
        event_types=["TaskSucceeded"],
        task_types=["ocr"],
    )
    source = await enqueue_task(
        EnqueueTask(tenant_id=tenant, type="ocr", correlation_id="order-7", trace_id="ab" * 16),
        tasks=services.tasks,
    )
    assert await tasks_of_type(conn, "summarize") == []  # queued is not succeeded
    await finish(services, {"lines": ["one", "two"]})
    [task] = await tasks_of_type(conn, "summarize")
    assert task["payload"] == {
        "first": "one",
        "missing": None,
        "status": "Succeeded",
        "kind": "TaskSucceeded",
        "source": "ocr",
    }
    started = await services.tasks.get(tenant, task["id"])
    assert started is not None
    assert (started.correlation_id, started.trace_id) == ("order-7", source.task.trace_id)
    # Its TaskQueued goes to the outbox after the success that caused it, as catalogued.
    cursor = await conn.execute(
        "SELECT content FROM outbox_messages WHERE task_id IN (%s, %s)"
        " ORDER BY id, (content ->> 'sequence')::int",
        (source.task_id, task["id"]),
    )
    messages = [row[0] for row in await cursor.fetchall()]
    for message in messages:
        MODELS[EventType(message["eventType"])].model_validate(message)
    assert [(m["type"], m["eventType"]) for m in messages][-2:] == [
        ("ocr", "TaskSucceeded"),
        ("summarize", "TaskQueued"),
    ]
    assert messages[-1]["trigger"]["sourceTaskId"] == str(source.task_id)


async def test_a_trigger_that_cannot_start_its_task_never_fails_the_event(
    conn: Conn, services: Services, tenant: uuid.UUID
) -> None:
    trigger = await make_trigger(
        services, tenant, {"type": "summarize"}, event_types=["TaskSucceeded"]
    )
    # A spec the API would never store (written behind its back): the insert fails.
    await conn.execute(
        "UPDATE task_triggers SET task = task || '{\"priority\": 99}' WHERE id = %s",
        (trigger.id,),
    )
    await enqueue_task(EnqueueTask(tenant_id=tenant, type="ocr"), tasks=services.tasks)
    source = await finish(services, {"text": "x"})
    # The success stands; the trigger started nothing and says why.
    stored = await services.tasks.get(tenant, source)
    assert stored is not None and stored.status.value == "Succeeded"
    assert await tasks_of_type(conn, "summarize") == []
    after = await PgTriggerStore(services.pool).get(tenant, trigger.id)
    assert after is not None
    assert (after.fired_count, after.skipped_count) == (0, 1)
    assert after.last_error is not None and "priority" in after.last_error


async def test_a_trigger_on_its_own_tasks_event_stops_at_the_depth_limit_in_one_statement(
    conn: Conn, services: Services, tenant: uuid.UUID
) -> None:
    trigger = await make_trigger(
        services,
        tenant,
        {"type": "echo", "payload": {"depth": {"$from": "event.detail.trigger.depth"}}},
        event_types=["TaskQueued"],
        task_types=["echo"],
    )
    await enqueue_task(EnqueueTask(tenant_id=tenant, type="echo"), tasks=services.tasks)
    started = await tasks_of_type(conn, "echo")
    assert [t["depth"] for t in started] == [None, *range(1, MAX_TRIGGER_DEPTH + 1)]
    assert [t["payload"].get("depth") for t in started[1:]] == [None, *range(1, MAX_TRIGGER_DEPTH)]
    after = await PgTriggerStore(services.pool).get(tenant, trigger.id)
    assert after is not None
    assert (after.fired_count, after.skipped_count) == (MAX_TRIGGER_DEPTH, 1)
    # What a DBA sees of it.
    cursor = await conn.execute(
        "SELECT waits_for, starts, fired_count, skipped_count, last_error LIKE 'depth limit%%'"
        " FROM trigger_activity WHERE id = %s",
        (trigger.id,),
    )
    assert await cursor.fetchone() == ("event types=TaskQueued taskTypes=echo", "echo", 8, 1, True)


async def test_the_depth_limit_is_the_same_in_python_and_sql(conn: Conn) -> None:
    cursor = await conn.execute("SELECT trigger_max_depth()")
    assert await cursor.fetchone() == (MAX_TRIGGER_DEPTH,)


CONTEXT = {
    "event": {"taskId": "t1", "detail": {"errorCode": "Boom", "n": [10, 20, 30]}},
    "result": {"items": [{"text": "a"}, {"text": "b"}], "n": None},
}


@pytest.mark.parametrize(
    "template",
    [
        {"a": {"$from": "event.taskId"}},
        {"a": [{"$from": "result.items.1.text"}, 2, {"b": {"$from": "result.items.-1"}}]},
        {"a": {"$from": "result.items.9.text"}, "b": {"$from": "result.n"}},
        {"a": {"$from": "result.n.deeper"}, "b": {"$from": "event.detail.n.x"}},
        {"a": {"$from": "event.detail"}, "b": "plain", "c": None, "d": [[{"$from": "result"}]]},
        {"a": {"$from": "result.items.text"}},
    ],
)
async def test_python_and_sql_fill_a_template_alike(conn: Conn, template: Any) -> None:
    cursor = await conn.execute("SELECT trigger_resolve(%s, %s)", (Jsonb(template), Jsonb(CONTEXT)))
    row = await cursor.fetchone()
    assert row is not None
    assert row[0] == resolve(template, CONTEXT)
