"""The outbox relay against the real RabbitMQ and Postgres."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pika
import psycopg
import pytest
from psycopg.types.json import Jsonb

from app.application.relay import BrokerUnavailable, Relay
from app.bootstrap import Services
from tests.relay.conftest import AMQP_URL, Consumer, make_relay
from tests.workers.conftest import Enqueue

Conn = psycopg.AsyncConnection[Any]


async def drain(relay: Relay) -> int:
    published = 0
    while True:
        counts = await relay.run_once()
        if not counts.published and not counts.refused:
            return published
        published += counts.published


async def test_a_bound_consumer_receives_each_event_once_with_its_properties(
    conn: Conn, enqueue: Enqueue, relay: Relay, bind: Any, tenant: uuid.UUID
) -> None:
    consumer = bind("task.#")
    ids = await enqueue(
        "demo.noop", count=20, correlation_id="order-9", trace_id="4bf92f3577b34da6a3ce929d0e0e4736"
    )
    assert await drain(relay) == 20
    received = consumer.take(25, timeout=3)
    assert len(received) == 20
    assert {body["taskId"] for _, body in received} == {str(i) for i in ids}
    props, body = received[0]
    assert body["eventType"] == "TaskQueued"
    assert (body["attempt"], body["sequence"], body["tenantId"]) == (0, 1, str(tenant))
    assert "payload" not in body
    assert props.message_id == body["eventId"]
    assert props.type == "TaskQueued"
    assert props.content_type == "application/json"
    assert props.correlation_id == "order-9"
    assert props.delivery_mode == 2
    assert props.timestamp is not None
    assert props.headers["tenantId"] == str(tenant)
    assert props.headers["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    pending = await (
        await conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'Pending'), "
            "count(*) FILTER (WHERE status = 'Published') FROM outbox_messages"
        )
    ).fetchone()
    assert pending == (0, 20)


async def test_routing_keys_follow_the_event_type(
    services: Services, enqueue: Enqueue, relay: Relay, bind: Any, tenant: uuid.UUID
) -> None:
    queued_only = bind("task.queued")
    cancelled_only = bind("task.cancelled")
    [task_id] = await enqueue("demo.noop")
    from app.application.tasks import cancel_task

    await cancel_task(tenant, task_id, tasks=services.tasks)
    await drain(relay)
    assert [b["eventType"] for _, b in queued_only.take(5, timeout=2)] == ["TaskQueued"]
    assert [b["eventType"] for _, b in cancelled_only.take(5, timeout=2)] == ["TaskCancelled"]


async def test_events_nobody_is_bound_for_wait_in_the_unroutable_queue(
    enqueue: Enqueue, relay: Relay, bind: Any, exchange: str
) -> None:
    await enqueue("demo.noop", count=3)
    await drain(relay)
    catcher = Consumer(
        pika.BlockingConnection(pika.URLParameters(AMQP_URL)), f"{exchange}.unroutable"
    )
    try:
        assert len(catcher.take(5, timeout=3)) == 3
    finally:
        catcher.connection.close()


async def test_a_rolled_back_change_publishes_nothing(
    conn: Conn, tenant: uuid.UUID, relay: Relay, bind: Any
) -> None:
    consumer = bind("task.#")
    with pytest.raises(RuntimeError):
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO tasks (id, tenant_id, type) VALUES (%s, %s, 'demo.noop')",
                (uuid.uuid4(), tenant),
            )
            await conn.execute(
                "INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status) "
                "SELECT id, tenant_id, 1, 'TaskQueued', 'Queued' FROM tasks"
            )
            raise RuntimeError("the change fails after the event was written")
    assert await drain(relay) == 0
    assert consumer.take(1, timeout=1) == []


async def test_an_unreachable_broker_keeps_events_waiting_in_postgres(
    conn: Conn, services: Services, enqueue: Enqueue, exchange: str
) -> None:
    await enqueue("demo.noop", count=5)
    down = make_relay(services, exchange, amqp_url="amqp://guest:guest@127.0.0.1:1/%2F")
    with pytest.raises(BrokerUnavailable):
        await down.run_once()
    await down.close()
    row = await (
        await conn.execute(
            "SELECT (SELECT count(*) FROM outbox_messages WHERE status = 'Pending'),"
            " (SELECT bool_and(vt <= now()) FROM pgmq.q_outbox)"
        )
    ).fetchone()
    assert row == (5, True)  # still pending and visible again for the next try


@pytest.mark.slow
async def test_events_tail_prints_each_event_as_a_json_line(
    enqueue: Enqueue, relay: Relay, exchange: str, tmp_path: Any
) -> None:
    import json as json_module
    import os
    import subprocess
    import sys

    env = {**os.environ, "AMQP_URL": AMQP_URL, "RELAY_EXCHANGE": exchange, "LOG_DIR": str(tmp_path)}
    tail = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "events", "tail", "--routing-key", "task.queued"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert tail.stderr is not None and "listening on" in tail.stderr.readline()
        await asyncio.sleep(0.5)  # the queue is bound
        ids = await enqueue("demo.noop", count=2)
        await drain(relay)
        assert tail.stdout is not None
        lines = [json_module.loads(tail.stdout.readline()) for _ in range(2)]
    finally:
        tail.terminate()
        tail.communicate(timeout=10)  # also closes the pipes
    assert {line["event"]["taskId"] for line in lines} == {str(i) for i in ids}
    assert all(line["routingKey"] == "task.queued" for line in lines)


async def test_the_relay_process_exposes_its_lag_and_totals_as_metrics(
    enqueue: Enqueue, exchange: str, database_url: str, tmp_path: Any, bind: Any
) -> None:
    import httpx

    from app.bootstrap import build_relay
    from app.config import load_settings
    from tests.api.conftest import free_port

    bind("task.#")
    port = free_port()
    settings = load_settings(
        database_url=database_url,
        amqp_url=AMQP_URL,
        relay_exchange=exchange,
        relay_metrics_port=port,
        log_dir=tmp_path,
        log_console=False,
    )
    process = build_relay(settings)
    await enqueue("demo.noop", count=4)
    stop = asyncio.Event()
    running = asyncio.create_task(process.run(stop))
    try:
        text = ""
        for _ in range(100):
            await asyncio.sleep(0.1)
            try:
                text = (await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/metrics")).text
            except httpx.TransportError:
                continue
            if "assistente_relay_published_total 4.0" in text:
                break
        assert "assistente_relay_published_total 4.0" in text
        assert "assistente_outbox_pending 0.0" in text
        assert "assistente_outbox_lag_seconds" in text
        assert "assistente_relay_failed_total 0.0" in text
    finally:
        stop.set()
        await running


async def test_published_events_are_pruned_after_their_retention(
    conn: Conn, enqueue: Enqueue, relay: Relay
) -> None:
    for _ in range(3):  # three statements: three outbox messages
        await enqueue("demo.noop")
    await drain(relay)
    await conn.execute(
        "UPDATE pgmq.a_outbox SET archived_at = now() - interval '8 days' "
        "WHERE msg_id IN (SELECT msg_id FROM pgmq.a_outbox ORDER BY msg_id LIMIT 2)"
    )
    outbox = relay._outbox
    assert await outbox.prune_published(7 * 86_400, 100) == 2
    row = await (await conn.execute("SELECT count(*) FROM pgmq.a_outbox")).fetchone()
    assert row == (1,)


async def test_a_down_broker_is_logged_once_not_per_message(
    services: Services, enqueue: Enqueue, exchange: str
) -> None:
    from structlog.testing import capture_logs

    await enqueue("demo.noop", count=50)
    down = make_relay(
        services, exchange, amqp_url="amqp://guest:guest@127.0.0.1:1/%2F", backoff_max_seconds=0.2
    )
    stop = asyncio.Event()
    with capture_logs() as logs:
        running = asyncio.create_task(down.run(stop))
        await asyncio.sleep(2.0)  # several retries
        stop.set()
        await running
    states = [entry for entry in logs if entry["event"] == "relay_state"]
    assert [s["state"] for s in states] == ["broker_unavailable"]


async def test_one_statement_writes_one_outbox_message_that_points_at_its_events(
    conn: Conn, enqueue: Enqueue
) -> None:
    tasks = await enqueue("demo.noop", count=3)
    cursor = await conn.execute(
        "SELECT q.message, array_agg(e.id ORDER BY e.id) FROM pgmq.q_outbox q"
        " JOIN task_events e ON e.task_id = ANY(%s) GROUP BY q.message",
        (tasks,),
    )
    [(message, event_ids)] = await cursor.fetchall()
    assert message == {"events": event_ids}


async def test_a_message_written_in_full_before_pointers_is_published_as_it_is(
    conn: Conn, relay: Relay, bind: Any, tenant: uuid.UUID
) -> None:
    consumer = bind("task.#")
    body = {
        "eventId": str(uuid.uuid4()),
        "eventType": "TaskQueued",
        "taskId": str(uuid.uuid4()),
        "tenantId": str(tenant),
        "sequence": 1,
        "status": "Queued",
    }
    await conn.execute(
        "INSERT INTO pgmq.q_outbox (vt, message) VALUES (clock_timestamp(), %s)", (Jsonb(body),)
    )
    assert await drain(relay) == 1
    [(props, received)] = consumer.take(2, timeout=3)
    assert received == body
    assert props.message_id == body["eventId"]


async def test_an_event_pruned_before_it_was_published_is_skipped(
    conn: Conn, enqueue: Enqueue, relay: Relay, bind: Any
) -> None:
    consumer = bind("task.#")
    gone, kept = await enqueue("demo.noop", count=2)
    await conn.execute("DELETE FROM task_events WHERE task_id = %s", (gone,))
    assert await drain(relay) == 1
    assert [body["taskId"] for _, body in consumer.take(3, timeout=3)] == [str(kept)]
    row = await (await conn.execute("SELECT count(*) FROM pgmq.q_outbox")).fetchone()
    assert row == (0,)  # its message is archived with the rest


async def test_a_held_message_whose_event_was_pruned_is_set_aside_not_published(
    conn: Conn, enqueue: Enqueue, relay: Relay, bind: Any
) -> None:
    consumer = bind("task.#")
    [task_id] = await enqueue("demo.noop")
    row = await (
        await conn.execute("SELECT id FROM task_events WHERE task_id = %s", (task_id,))
    ).fetchone()
    assert row is not None
    # The event waits in a held message of its own (as after a refusal), then is pruned.
    await conn.execute("DELETE FROM pgmq.q_outbox")
    await conn.execute(
        "INSERT INTO pgmq.q_outbox (vt, message) VALUES (clock_timestamp(), %s)",
        (Jsonb({"taskId": str(task_id), "event": row[0]}),),
    )
    await conn.execute("DELETE FROM task_events WHERE task_id = %s", (task_id,))
    assert await drain(relay) == 0
    assert consumer.take(1, timeout=1) == []
    row = await (
        await conn.execute(
            "SELECT status, error FROM outbox_messages WHERE task_id = %s", (task_id,)
        )
    ).fetchone()
    assert row == ("SetAside", "its event was pruned before it was published")
