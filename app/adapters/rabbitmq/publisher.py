"""PikaPublisher: task events to a RabbitMQ topic exchange, with publisher confirms.

pika is not thread-safe, so every pika call runs on one dedicated thread behind
an async facade. Topology is declared on every (re)connect, idempotently: the
topic exchange, and an alternate exchange with a queue that keeps events no
integration is bound for yet, so none vanish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel
from pika.exchange_type import ExchangeType

from app.application.relay import BrokerUnavailable, OutboxMessage, PublishResult
from app.domain.event_catalogue import routing_key


def properties(body: dict[str, Any]) -> pika.BasicProperties:
    """The AMQP properties an integrator expects, from the event itself."""
    trace_id = str(body.get("traceId") or "")
    headers: dict[str, Any] = {"tenantId": str(body.get("tenantId", ""))}
    if re.fullmatch(r"[0-9a-f]{32}", trace_id):
        headers["traceparent"] = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    occurred = body.get("occurredAt")
    timestamp = None
    if isinstance(occurred, str):
        try:
            timestamp = int(datetime.fromisoformat(occurred).timestamp())
        except ValueError:
            timestamp = None
    return pika.BasicProperties(
        content_type="application/json",
        delivery_mode=2,  # persistent
        message_id=str(body.get("eventId", "")),
        correlation_id=body.get("correlationId"),
        type=str(body.get("eventType", "")),
        timestamp=timestamp,
        app_id="assistente",
        headers=headers,
    )


class PikaPublisher:
    """EventPublisher over pika's BlockingConnection on a thread of its own."""

    def __init__(self, amqp_url: str, exchange: str, *, connect_timeout: float = 5.0) -> None:
        self._parameters = pika.URLParameters(amqp_url)
        self._parameters.socket_timeout = connect_timeout
        self._parameters.blocked_connection_timeout = 30
        self._parameters.connection_attempts = 1
        self.exchange = exchange
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="pika")
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    async def publish(self, messages: Sequence[OutboxMessage]) -> PublishResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._publish, list(messages))

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._drop)
        self._thread.shutdown(wait=False)

    # -- on the pika thread ---------------------------------------------------------

    def _publish(self, messages: list[OutboxMessage]) -> PublishResult:
        result = PublishResult()
        channel = self._ensure_channel()
        for message in messages:
            body = dict(message.body)
            try:
                channel.basic_publish(
                    self.exchange,
                    routing_key(str(body.get("eventType", ""))),
                    json.dumps(body, separators=(",", ":")).encode(),
                    properties(body),
                    mandatory=True,
                )
            except pika.exceptions.NackError:
                result.refused[message.id] = "the broker refused (nack) the message"
                continue
            except pika.exceptions.UnroutableError:
                result.refused[message.id] = "the message could not be routed"
                continue
            except (pika.exceptions.AMQPError, OSError) as error:
                self._drop()
                raise BrokerUnavailable(_describe(error), result) from error
            result.confirmed.append(message.id)
        return result

    def _ensure_channel(self) -> BlockingChannel:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self._drop()
        try:
            self._connection = pika.BlockingConnection(self._parameters)
            channel = self._connection.channel()
            channel.confirm_delivery()
            self._declare(channel)
        except (pika.exceptions.AMQPError, OSError) as error:
            self._drop()
            raise BrokerUnavailable(_describe(error)) from error
        self._channel = channel
        return channel

    def _declare(self, channel: BlockingChannel) -> None:
        unroutable = f"{self.exchange}.unroutable"
        channel.exchange_declare(unroutable, exchange_type=ExchangeType.fanout, durable=True)  # type: ignore[arg-type]  # stubs lag pika
        channel.queue_declare(unroutable, durable=True)
        channel.queue_bind(unroutable, unroutable)
        channel.exchange_declare(
            self.exchange,
            exchange_type=ExchangeType.topic,  # type: ignore[arg-type]
            durable=True,
            arguments={"alternate-exchange": unroutable},
        )

    def _drop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                connection.close()


def _describe(error: BaseException) -> str:
    # Never echo the URL: it may carry credentials.
    return type(error).__name__ + (f": {error}" if str(error) and "@" not in str(error) else "")
