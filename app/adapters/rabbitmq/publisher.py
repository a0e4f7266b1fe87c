"""PikaPublisher: task events to a RabbitMQ topic exchange, with publisher confirms.

pika is not thread-safe, so one thread runs pika's SelectConnection I/O loop and
every pika call happens there; the async facade hands it batches through
`add_callback_threadsafe`. A batch is published in one go and its confirms are
collected as they arrive (the broker acks many at once), so a batch costs about
one round trip instead of one per message.

Topology is declared on every (re)connect, idempotently: the topic exchange,
and an alternate exchange with a queue that keeps events no integration is
bound for yet, so none vanish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pika
import pika.exceptions
from pika.channel import Channel
from pika.exchange_type import ExchangeType

from app.application.relay import BrokerUnavailable, OutboxMessage, PublishResult
from app.domain.event_catalogue import routing_key

CONFIRM_TIMEOUT_SECONDS = 30.0


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


@dataclass
class _Batch:
    """A batch in flight: which delivery tags are still unconfirmed."""

    future: Future[PublishResult]
    forget: Any = None  # called with the delivery tag once it is settled
    waiting: dict[int, int] = field(default_factory=dict)  # delivery tag -> outbox id
    result: PublishResult = field(default_factory=PublishResult)

    def settle(self, tag: int, *, ok: bool, reason: str = "") -> None:
        message_id = self.waiting.pop(tag, None)
        if message_id is None:
            return
        if self.forget is not None:
            self.forget(tag)
        if ok and message_id not in self.result.refused:
            self.result.confirmed.append(message_id)
        elif not ok:
            self.result.refused[message_id] = reason
        if not self.waiting and not self.future.done():
            self.result.confirmed.sort()
            self.future.set_result(self.result)


class PikaPublisher:
    """EventPublisher over pika's SelectConnection on a thread of its own."""

    def __init__(self, amqp_url: str, exchange: str, *, connect_timeout: float = 5.0) -> None:
        self._parameters = pika.URLParameters(amqp_url)
        self._parameters.socket_timeout = connect_timeout
        self._parameters.connection_attempts = 1
        self._connect_timeout = connect_timeout
        self.exchange = exchange
        self._lock = threading.Lock()
        self._connection: pika.SelectConnection | None = None
        self._channel: Channel | None = None
        self._ready: Future[None] | None = None
        self._thread: threading.Thread | None = None
        self._next_tag = 0
        self._in_flight: dict[int, _Batch] = {}  # delivery tag -> its batch
        self._by_message_id: dict[str, tuple[_Batch, int]] = {}
        self._message_of_tag: dict[int, str] = {}

    async def publish(self, messages: Sequence[OutboxMessage]) -> PublishResult:
        if not messages:
            return PublishResult()
        ready = self._connect()
        try:
            await asyncio.wait_for(asyncio.wrap_future(ready), self._connect_timeout * 2)
        except TimeoutError as error:
            self._abandon("the broker did not answer in time")
            raise BrokerUnavailable("the broker did not answer in time") from error
        batch = _Batch(Future(), forget=self._forget_message)
        connection = self._connection
        if connection is None:
            raise BrokerUnavailable("the connection to the broker closed")
        connection.ioloop.add_callback_threadsafe(lambda: self._send(batch, list(messages)))
        try:
            return await asyncio.wait_for(
                asyncio.wrap_future(batch.future), CONFIRM_TIMEOUT_SECONDS
            )
        except TimeoutError as error:
            self._abandon("confirms did not arrive in time")
            raise BrokerUnavailable("confirms did not arrive in time", batch.result) from error

    async def close(self) -> None:
        await asyncio.to_thread(self._abandon, "closing", join=True)

    # -- connection, on the caller's thread ------------------------------------------

    def _connect(self) -> Future[None]:
        with self._lock:
            if self._ready is not None and not (self._ready.done() and self._ready.exception()):
                return self._ready
            self._ready = Future()
            ready = self._ready
            self._connection = pika.SelectConnection(
                self._parameters,
                on_open_callback=self._on_open,
                on_open_error_callback=lambda c, e: self._closed(c, f"cannot connect: {_name(e)}"),
                on_close_callback=lambda c, e: self._closed(c, f"connection closed: {_name(e)}"),
            )
            self._thread = threading.Thread(
                target=_run_loop, args=(self._connection,), name="pika-publisher", daemon=True
            )
            self._thread.start()
        return ready

    def _abandon(self, reason: str, *, join: bool = False) -> None:
        """Close the connection (its close callback fails what is still waiting)."""
        with self._lock:
            connection, thread = self._connection, self._thread

        def stop() -> None:
            if connection is not None and connection.is_open:
                connection.close()
            elif connection is not None:
                self._closed(connection, reason)

        if connection is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError, pika.exceptions.AMQPError):
                connection.ioloop.add_callback_threadsafe(stop)
            if join:
                thread.join(timeout=5)
        else:
            self._fail(reason)

    # -- on the pika thread ------------------------------------------------------------

    def _closed(self, connection: Any, reason: str) -> None:
        self._fail(reason)
        connection.ioloop.stop()  # ends this connection's thread

    def _on_open(self, connection: Any) -> None:
        connection.channel(on_open_callback=self._on_channel)

    def _on_channel(self, channel: Channel) -> None:
        self._channel = channel
        channel.add_on_close_callback(
            lambda _ch, error: self._fail(f"channel closed: {_name(error)}")
        )
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(self._on_confirm, callback=lambda _f: self._declare(channel))

    def _declare(self, channel: Channel) -> None:
        unroutable = f"{self.exchange}.unroutable"

        def exchange(_frame: Any = None) -> None:
            channel.exchange_declare(
                self.exchange,
                exchange_type=ExchangeType.topic,  # type: ignore[arg-type]
                durable=True,
                arguments={"alternate-exchange": unroutable},
                callback=lambda _f: self._opened(),
            )

        def bind(_frame: Any) -> None:
            channel.queue_bind(unroutable, unroutable, callback=exchange)

        def queue(_frame: Any) -> None:
            channel.queue_declare(unroutable, durable=True, callback=bind)

        channel.exchange_declare(
            unroutable,
            exchange_type=ExchangeType.fanout,  # type: ignore[arg-type]
            durable=True,
            callback=queue,
        )

    def _opened(self) -> None:
        self._next_tag = 0
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    def _send(self, batch: _Batch, messages: list[OutboxMessage]) -> None:
        channel = self._channel
        if channel is None or not channel.is_open:
            batch.future.set_exception(BrokerUnavailable("the channel is closed"))
            return
        for message in messages:
            body = dict(message.body)
            props = properties(body)
            self._next_tag += 1
            batch.waiting[self._next_tag] = message.id
            self._in_flight[self._next_tag] = batch
            self._by_message_id[str(props.message_id)] = (batch, self._next_tag)
            self._message_of_tag[self._next_tag] = str(props.message_id)
            channel.basic_publish(
                self.exchange,
                routing_key(str(body.get("eventType", ""))),
                json.dumps(body, separators=(",", ":")).encode(),
                props,
                mandatory=True,
            )

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        ok = isinstance(method, pika.spec.Basic.Ack)
        tags = (
            [t for t in self._in_flight if t <= method.delivery_tag]
            if method.multiple
            else [method.delivery_tag]
        )
        for tag in sorted(tags):
            batch = self._in_flight.pop(tag, None)
            if batch is not None:
                batch.settle(tag, ok=ok, reason="the broker refused (nack) the message")

    def _forget_message(self, tag: int) -> None:
        message_id = self._message_of_tag.pop(tag, None)
        if message_id is not None:
            self._by_message_id.pop(message_id, None)

    def _on_return(self, _channel: Any, _method: Any, props: Any, _body: bytes) -> None:
        found = self._by_message_id.pop(str(props.message_id), None)
        if found is not None:
            batch, tag = found
            batch.settle(tag, ok=False, reason="the message could not be routed")
            self._in_flight.pop(tag, None)

    def _fail(self, reason: str) -> None:
        """The connection is gone: every batch still waiting fails, and the next publish
        reconnects."""
        with self._lock:
            ready, self._ready = self._ready, None
            self._connection = None
            self._channel = None
        if ready is not None and not ready.done():
            ready.set_exception(BrokerUnavailable(reason))
        batches = {id(b): b for b in self._in_flight.values()}
        self._in_flight.clear()
        self._by_message_id.clear()
        self._message_of_tag.clear()
        for batch in batches.values():
            if not batch.future.done():
                batch.future.set_exception(BrokerUnavailable(reason, batch.result))


def _run_loop(connection: pika.SelectConnection) -> None:
    """The pika thread: run the I/O loop until the connection ends, then free its sockets."""
    try:
        connection.ioloop.start()
    finally:
        connection.ioloop.close()


def _name(error: BaseException | str) -> str:
    # Never echo connection parameters: they may carry credentials.
    return type(error).__name__ if isinstance(error, BaseException) else "closed"
