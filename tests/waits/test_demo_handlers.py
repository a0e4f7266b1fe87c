"""The demo handlers that wait (README's first hour): demo.ask and demo.await_signal."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg

from app.application.demo import demo_handlers
from tests.waits.conftest import decide, send_signal, wait_row
from tests.workers.conftest import Enqueue, StartWorker, wait_for_status

Conn = psycopg.AsyncConnection[Any]


async def result(conn: Conn, task_id: uuid.UUID) -> Any:
    cursor = await conn.execute(
        "SELECT content FROM task_artifacts WHERE task_id = %s AND kind = 'result'", (task_id,)
    )
    row = await cursor.fetchone()
    assert row is not None
    return json.loads(row[0])


async def parked(conn: Conn, task_id: uuid.UUID) -> tuple[Any, ...]:
    await wait_for_status(conn, [task_id], {"Created"})
    row = await wait_row(conn, task_id)
    assert row is not None
    return row


async def test_demo_ask_waits_for_a_person_and_returns_the_decision(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker, tenant: uuid.UUID
) -> None:
    await start_worker(demo_handlers)
    [task_id] = await enqueue("demo.ask", payload={"question": "Publish the report?"})
    assert (await parked(conn, task_id))[:1] == ("input",)
    await decide(conn, tenant, task_id, "approve", input={"note": "ok"}, decided_by="rui")
    await wait_for_status(conn, [task_id], {"Succeeded"})
    assert await result(conn, task_id) == {
        "decision": "approve",
        "input": {"note": "ok"},
        "by": "rui",
    }


async def test_demo_await_signal_returns_the_signals_data(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker, tenant: uuid.UUID
) -> None:
    await start_worker(demo_handlers)
    [task_id] = await enqueue("demo.await_signal", payload={"signal": "paid", "key": "o-1"})
    assert (await parked(conn, task_id))[3:5] == ("paid", "o-1")
    await send_signal(conn, tenant, "paid", "o-1", {"eur": 5})
    await wait_for_status(conn, [task_id], {"Succeeded"})
    assert await result(conn, task_id) == {"data": {"eur": 5}, "timedOut": False}


async def test_a_bad_timeout_dead_letters_at_once(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    await start_worker(demo_handlers)
    [task_id] = await enqueue("demo.ask", payload={"timeoutSeconds": "soon"})
    await wait_for_status(conn, [task_id], {"DeadLetter"})
