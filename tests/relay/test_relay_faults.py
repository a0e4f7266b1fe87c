"""Relay faults: several relays, a refusing broker, a cut connection, a killed relay."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import psycopg
import pytest

from app.application.tasks import cancel_task
from app.bootstrap import Services
from tests.relay.conftest import AMQP_URL, make_relay
from tests.relay.test_relay import drain
from tests.workers.conftest import Enqueue, StartWorker, start_worker, wait_for_status

__all__ = ["start_worker"]  # the worker fixture, for tests that run tasks

Conn = psycopg.AsyncConnection[Any]
ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def rejecting_queue(exchange: str) -> Iterator[Any]:
    """A full queue that rejects publishes: the broker nacks what is routed to it."""
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    full = f"{exchange}.full"
    channel.queue_declare(full, arguments={"x-max-length": 0, "x-overflow": "reject-publish"})
    try:
        yield channel, full
    finally:
        channel.queue_delete(full)
        connection.close()


def per_task_sequences(received: list[tuple[Any, dict[str, Any]]]) -> dict[str, list[int]]:
    sequences: dict[str, list[int]] = collections.defaultdict(list)
    for _, body in received:
        sequences[body["taskId"]].append(body["sequence"])
    return sequences


async def cancel_all(services: Services, tenant: uuid.UUID, ids: list[uuid.UUID]) -> None:
    for task_id in ids:
        await cancel_task(tenant, task_id, tasks=services.tasks)


async def test_several_relays_keep_each_tasks_events_in_order(
    services: Services, enqueue: Enqueue, bind: Any, exchange: str, tenant: uuid.UUID
) -> None:
    consumer = bind("task.#")
    relays = [make_relay(services, exchange, batch_size=7, idle_seconds=0.01) for _ in range(3)]
    stop = asyncio.Event()
    running = [asyncio.create_task(r.run(stop)) for r in relays]
    ids = await enqueue("demo.noop", count=60)
    await cancel_all(services, tenant, ids)  # a second event per task, right behind the first
    received = await asyncio.to_thread(consumer.take, 120, timeout=20)
    stop.set()
    await asyncio.gather(*running)
    assert len(received) == 120
    for task_id, sequences in per_task_sequences(received).items():
        assert sequences == [1, 2], task_id
    assert sum(1 for r in relays if r.totals.published) == 1  # one active relay at a time


async def test_a_standby_relay_takes_over_when_the_active_one_stops(
    services: Services, enqueue: Enqueue, bind: Any, exchange: str
) -> None:
    consumer = bind("task.#")
    first, second = (make_relay(services, exchange, idle_seconds=0.01) for _ in range(2))
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    running_first = asyncio.create_task(first.run(stop_first))
    await asyncio.sleep(0.3)
    running_second = asyncio.create_task(second.run(stop_second))
    await enqueue("demo.noop", count=5)
    assert len(await asyncio.to_thread(consumer.take, 5, timeout=10)) == 5
    stop_first.set()
    await running_first
    await enqueue("demo.noop", count=5)
    assert len(await asyncio.to_thread(consumer.take, 5, timeout=10)) == 5
    stop_second.set()
    await running_second
    assert first.totals.published == 5 and second.totals.published == 5


async def test_an_event_the_broker_keeps_refusing_is_set_aside_and_blocks_nothing(
    conn: Conn, services: Services, enqueue: Enqueue, bind: Any, exchange: str, tenant: uuid.UUID
) -> None:
    consumer = bind("task.queued")
    with rejecting_queue(exchange) as (channel, full):
        channel.queue_bind(full, exchange, routing_key="task.cancelled")  # nack every cancel
        relay = make_relay(services, exchange, max_refusals=3, refusal_backoff_seconds=0.05)
        [doomed] = await enqueue("demo.noop")
        await cancel_task(tenant, doomed, tasks=services.tasks)
        others = await enqueue("demo.noop", count=3)
        for _ in range(40):
            await relay.run_once()
            await asyncio.sleep(0.05)
        await relay.close()
        received = consumer.take(10, timeout=3)
        assert {b["taskId"] for _, b in received} == {str(doomed), *map(str, others)}
        row = await (
            await conn.execute(
                "SELECT type, status, error IS NOT NULL FROM outbox_messages "
                "WHERE status <> 'Published'"
            )
        ).fetchall()
        assert row == [("TaskCancelled", "SetAside", True)]


async def test_a_refused_event_holds_back_its_own_task_and_keeps_its_order(
    conn: Conn,
    services: Services,
    enqueue: Enqueue,
    start_worker: StartWorker,
    bind: Any,
    exchange: str,
) -> None:
    consumer = bind("task.#")
    with rejecting_queue(exchange) as (channel, full):
        channel.queue_bind(full, exchange, routing_key="task.running")  # nack every start
        relay = make_relay(services, exchange, max_refusals=100, refusal_backoff_seconds=0.05)
        ran = await enqueue("demo.noop", count=3)  # one statement: their TaskQueued together
        worker = await start_worker()
        await wait_for_status(conn, ran, {"Succeeded"})  # then TaskRunning, TaskSucceeded
        await worker.stop()
        for _ in range(5):
            await relay.run_once()
        # Each refused start, and the success behind it, wait in held messages.
        held = await conn.execute("SELECT count(*) FROM pgmq.q_outbox WHERE message ? 'taskId'")
        assert await held.fetchone() == (6,)
        [later] = await enqueue("demo.noop")
        await relay.run_once()
        before = consumer.take(30, timeout=2)
        # Every TaskQueued went out, the later task's too: held tasks hold back only
        # themselves. (A nacked start still reaches the other bound queues: a broker's
        # reject-publish refuses the publish, not every copy of it.)
        queued = [body["taskId"] for _, body in before if body["eventType"] == "TaskQueued"]
        assert sorted(queued) == sorted(map(str, [*ran, later]))
        assert "TaskSucceeded" not in {body["eventType"] for _, body in before}
        channel.queue_unbind(full, exchange, routing_key="task.running")
        for _ in range(20):
            await relay.run_once()
            await asyncio.sleep(0.05)
        await relay.close()
    after = consumer.take(30, timeout=3)
    sequences = per_task_sequences(before + after)
    for task in ran:
        seen = sequences[str(task)]
        # Refused starts may arrive more than once; the success only after the last.
        assert seen[0] == 1 and seen[-1] == 3 and seen.count(3) == 1, (task, seen)
        assert set(seen[1:-1]) == {2}, (task, seen)
    assert sequences[str(later)] == [1]
    left = await conn.execute("SELECT count(*) FROM pgmq.q_outbox")
    assert await left.fetchone() == (0,)


class CuttableProxy:
    """A TCP proxy to RabbitMQ whose connections the test can cut and refuse."""

    def __init__(self, target_port: int = 5672) -> None:
        self.target_port = target_port
        self.accepting = True
        self._links: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._links += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        self.accepting = False
        for link in self._links:
            link.transport.abort()
        self._links.clear()

    def restore(self) -> None:
        self.accepting = True

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()


async def test_a_cut_broker_connection_loses_nothing_and_catches_up(
    services: Services, enqueue: Enqueue, bind: Any, exchange: str
) -> None:
    consumer = bind("task.#")
    proxy = CuttableProxy()
    port = await proxy.start()
    relay = make_relay(
        services, exchange, amqp_url=f"amqp://guest:guest@127.0.0.1:{port}/%2F", idle_seconds=0.01
    )
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        first = await enqueue("demo.noop", count=10)
        assert len(await asyncio.to_thread(consumer.take, 10, timeout=10)) == 10
        proxy.cut()
        during = await enqueue("demo.noop", count=30)
        await asyncio.sleep(1.5)
        assert relay.state == "broker_unavailable"
        proxy.restore()
        received = await asyncio.to_thread(consumer.take, 30, timeout=30)
    finally:
        stop.set()
        await running
        await proxy.close()
    assert {b["taskId"] for _, b in received} >= {str(t) for t in during}
    assert len(first) == 10


@pytest.mark.slow
async def test_a_relay_killed_mid_batch_loses_nothing(
    conn: Conn, enqueue: Enqueue, bind: Any, exchange: str, database_url: str, tmp_path: Path
) -> None:
    consumer = bind("task.#")
    ids = await enqueue("demo.noop", count=3000)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "AMQP_URL": AMQP_URL,
        "RELAY_EXCHANGE": exchange,
        "LOG_DIR": str(tmp_path),
        "LOG_CONSOLE": "false",
    }
    command = [sys.executable, "-m", "app.cli", "relay"]
    victim = subprocess.Popen(command, env=env, cwd=ROOT)
    for _ in range(200):
        row = await (await conn.execute("SELECT count(*) FROM pgmq.a_outbox")).fetchone()
        if row and row[0] > 200:
            break
        await asyncio.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    survivor = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        expected = {str(t) for t in ids}
        received = await asyncio.to_thread(
            consumer.take,
            10_000,
            timeout=60,
            until=lambda got: len(got) >= 3000 and {b["taskId"] for _, b in got} == expected,
        )
    finally:
        survivor.send_signal(signal.SIGTERM)
        survivor.wait(timeout=20)
    by_task = collections.Counter(b["taskId"] for _, b in received)
    assert set(by_task) == {str(t) for t in ids}  # nothing lost
    # Anything delivered twice was re-sent with the same message id, so consumers can dedupe.
    ids_by_event = collections.defaultdict(set)
    for props, body in received:
        ids_by_event[body["eventId"]].add(props.message_id)
    assert all(len(v) == 1 for v in ids_by_event.values())
    pending = await (await conn.execute("SELECT count(*) FROM pgmq.q_outbox")).fetchone()
    assert pending == (0,)


async def test_a_refused_event_holds_back_only_its_own_task(
    conn: Conn, services: Services, enqueue: Enqueue, bind: Any, exchange: str, tenant: uuid.UUID
) -> None:
    cancelled = bind("task.cancelled")
    with rejecting_queue(exchange) as (channel, full):
        relay = make_relay(services, exchange, max_refusals=4, refusal_backoff_seconds=1.5)
        [stuck] = await enqueue("demo.noop")
        await drain(relay)  # its TaskQueued is out
        channel.queue_bind(full, exchange, routing_key="task.cancelled")
        await cancel_task(tenant, stuck, tasks=services.tasks)
        assert (await relay.run_once()).refused == 1  # its TaskCancelled is refused once
        channel.queue_unbind(full, exchange, routing_key="task.cancelled")  # would take it now
        [other] = await enqueue("demo.noop")
        await cancel_task(tenant, other, tasks=services.tasks)
        await relay.run_once()  # the other task's TaskQueued
        await relay.run_once()  # and then its TaskCancelled
        # The nacked copy may still reach a queue that accepted it; then the other task's
        # events went out at once, while the stuck one waits for its backoff.
        first = cancelled.take(5, timeout=0.5)
        assert [b["taskId"] for _, b in first] == [str(stuck), str(other)]
        await asyncio.sleep(1.5)
        await drain(relay)
        assert [b["taskId"] for _, b in cancelled.take(5, timeout=2)] == [str(stuck)]
        await relay.close()
