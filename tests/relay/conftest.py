"""Relay fixtures: a real RabbitMQ, an exchange of the test's own, and a consumer bound to it."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pika
import pytest

from app.adapters.postgres.outbox import PgOutbox
from app.adapters.rabbitmq.publisher import PikaPublisher
from app.application.relay import Relay, RelayConfig
from app.bootstrap import Services
from tests.workers.conftest import enqueue, services, tenant

__all__ = ["enqueue", "services", "tenant"]  # engine fixtures the relay tests reuse

AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


@pytest.fixture(scope="session")
def rabbitmq_available() -> None:
    try:
        pika.BlockingConnection(pika.URLParameters(AMQP_URL)).close()
    except pika.exceptions.AMQPError as error:
        pytest.fail(f"RabbitMQ is not reachable at {AMQP_URL} ({error!r}); start it first")


@pytest.fixture
def exchange(rabbitmq_available: None) -> Iterator[str]:
    """A topic exchange name no other test uses; removed afterwards with its queues."""
    name = f"test.events.{uuid.uuid4().hex[:10]}"
    yield name
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.exchange_delete(name)
    channel.exchange_delete(f"{name}.unroutable")
    channel.queue_delete(f"{name}.unroutable")
    connection.close()


@dataclass
class Consumer:
    """A queue bound to the exchange, read with basic_get."""

    connection: pika.BlockingConnection
    queue: str

    def take(
        self,
        count: int,
        *,
        timeout: float = 10.0,
        until: Callable[[list[tuple[Any, dict[str, Any]]]], bool] | None = None,
    ) -> list[tuple[Any, dict[str, Any]]]:
        """Up to `count` messages as (properties, body), waiting at most `timeout` seconds
        (or until `until(messages)` holds)."""
        channel = self.connection.channel()
        got: list[tuple[Any, dict[str, Any]]] = []
        end = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < end and not (until and until(got)):
            method, props, body = channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                self.connection.sleep(0.05)
                continue
            got.append((props, json.loads(body)))
        channel.close()
        return got


@pytest.fixture
def bind(exchange: str) -> Iterator[Any]:
    """bind(routing_key) -> a Consumer of a fresh queue bound with that key."""
    connections: list[pika.BlockingConnection] = []

    def make(key: str = "task.#", queue: str | None = None) -> Consumer:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        connections.append(connection)
        channel = connection.channel()
        channel.exchange_declare(
            exchange,
            exchange_type="topic",
            durable=True,
            arguments={"alternate-exchange": f"{exchange}.unroutable"},
        )
        name = queue or f"{exchange}.q.{uuid.uuid4().hex[:6]}"
        # Exclusive: removed with the test's connection.
        channel.queue_declare(name, exclusive=True)
        channel.queue_bind(name, exchange, routing_key=key)
        return Consumer(connection, name)

    yield make
    for connection in connections:
        if connection.is_open:
            connection.close()


def make_relay(services: Services, exchange: str, amqp_url: str = AMQP_URL, **config: Any) -> Relay:
    return Relay(
        PgOutbox(services.pool, services.url),
        PikaPublisher(amqp_url, exchange, connect_timeout=2),
        RelayConfig(**config),
    )


@pytest.fixture
async def relay(services: Services, exchange: str) -> AsyncIterator[Relay]:
    running = make_relay(services, exchange)
    yield running
    await running.close()
