"""The relay declares its exchange when it starts, not at its first event, so an
integrator can bind a queue on a fresh install; docs/events.md shows how."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pika
import pika.exceptions

from app.application.relay import Relay
from app.bootstrap import Services
from tests.relay.conftest import AMQP_URL, make_relay
from tests.workers.conftest import Enqueue

EVENTS_MD = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def exchange_exists(name: str) -> bool:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        connection.channel().exchange_declare(name, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker as error:
        if error.reply_code == 404:
            return False
        raise
    finally:
        if connection.is_open:
            connection.close()


async def started(relay: Relay, stop: asyncio.Event) -> asyncio.Task[None]:
    running = asyncio.create_task(relay.run(stop))
    deadline = time.monotonic() + 10
    while relay.state != "publishing" and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return running


async def test_the_exchange_exists_as_soon_as_the_relay_starts_with_nothing_to_publish(
    services: Services, exchange: str
) -> None:
    relay = make_relay(services, exchange)
    stop = asyncio.Event()
    running = await started(relay, stop)
    try:
        await asyncio.sleep(0.5)
        assert relay.totals.published == 0
        assert await asyncio.to_thread(exchange_exists, exchange)
        assert relay.broker_up is True
    finally:
        stop.set()
        await running


def consumer_example(exchange: str, queue: str) -> str:
    """The pika example of docs/events.md, pointed at this test's exchange and queue."""
    [code] = re.findall(r"## Receiving events.*?```python\n(.*?)```", EVENTS_MD.read_text(), re.S)
    code = code.replace("amqp://guest:guest@localhost:5672/%2F", AMQP_URL)
    code = code.replace('"assistente.events', f'"{exchange}')  # the unroutable one too
    return code.replace("billing.task-events", queue)


async def test_the_documented_consumer_declare_agrees_with_the_relay_and_receives_events(
    services: Services, exchange: str, enqueue: Enqueue
) -> None:
    relay = make_relay(services, exchange)
    stop = asyncio.Event()
    running = await started(relay, stop)
    queue = f"{exchange}.docs.{uuid.uuid4().hex[:6]}"
    scope: dict[str, Any] = {}
    try:
        # After the relay declared the exchange: a mismatch would close the channel (406).
        exec(consumer_example(exchange, queue), scope)  # our own documentation
        channel = scope["channel"]
        [task] = await enqueue("demo.noop")
        body = None
        for _ in range(100):
            method, _props, body = channel.basic_get(queue, auto_ack=True)
            if method is not None:
                break
            await asyncio.sleep(0.05)
        assert body is not None and str(task).encode() in body
    finally:
        stop.set()
        await running
        if "channel" in scope:
            scope["channel"].queue_delete(queue)
            scope["connection"].close()
