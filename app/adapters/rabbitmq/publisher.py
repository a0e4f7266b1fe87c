"""PikaPublisher: task events to a RabbitMQ topic exchange, with publisher confirms.

pika is not thread-safe, so one thread runs pika's SelectConnection I/O loop and
every pika call happens there; the async facade hands it batches through
`add_callback_threadsafe`. A batch is published in one go and its confirms are
collected as they arrive (the broker acks many at once), so a batch costs about
one round trip instead of one per message.

Topology is declared on every (re)connect, idempotently: the topic exchange,
and an alternate exchange with a queue that keeps events no integration is
bound for yet, so none vanish. The relay connects at start, before any event, so
integrators can bind their queues to the exchange on a fresh install.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
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

from app.application.relay import BrokerUnavailable, PublishResult
from app.domain.event_catalogue import routing_key
from app.domain.outbox_delivery import OutboxEvent

CONFIRM_TIMEOUT_SECONDS = 30.0


def exchange_arguments(exchange: str) -> dict[str, Any]:
    """The events exchange's arguments. A consumer that declares the exchange must pass
    exactly these (docs/events.md shows how), or the broker refuses one of the two."""
    return {"alternate-exchange": unroutable_exchange(exchange)}


def unroutable_exchange(exchange: str) -> str:
    """Where events no queue is bound for wait (a fanout exchange and a queue of that name)."""
    return f"{exchange}.unroutable"


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
    waiting: dict[int, int] = field(default_factory=dict)  # delivery tag -> outbox id
    result: PublishResult = field(default_factory=PublishResult)

    def settle(self, tag: int, *, ok: bool, reason: str = "") -> None:
        message_id = self.waiting.pop(tag, None)
        if message_id is None:
            return
        if ok and message_id not in self.result.refused:
            self.result.confirmed.append(message_id)
        elif not ok:
            self.result.refused[message_id] = reason
        if not self.waiting and not self.future.done():
            self.result.confirmed.sort()
            self.future.set_result(self.result)


class _Link:
    """One connection and everything that belongs to it.

    Its callbacks touch only its own state, so a connection that closes late can
    never disturb the one that replaced it. All of it runs on the link's thread.
    """

    def __init__(self, publisher: PikaPublisher) -> None:
        self.publisher = publisher
        self.ready: Future[None] = Future()
        self.channel: Channel | None = None
        self.next_tag = 0
        self.in_flight: dict[int, _Batch] = {}
        self.tag_of_message: dict[str, int] = {}
        self.connection = pika.SelectConnection(
            publisher.parameters,
            on_open_callback=self._on_open,
            on_open_error_callback=lambda _c, e: self.fail(f"cannot connect: {_name(e)}"),
            on_close_callback=lambda _c, e: self.fail(f"connection closed: {_name(e)}"),
        )
        self.thread = threading.Thread(target=self._run, name="pika-publisher", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.connection.ioloop.start()
        finally:
            self.connection.ioloop.close()  # frees the loop's wake-up sockets

    def call(self, function: Any) -> None:
        """Run `function` on this link's thread."""
        self.connection.ioloop.add_callback_threadsafe(function)

    def _on_open(self, connection: Any) -> None:
        connection.channel(on_open_callback=self._on_channel)

    def _on_channel(self, channel: Channel) -> None:
        self.channel = channel
        # A channel the broker closed (a refused declare, say) ends the whole link.
        channel.add_on_close_callback(lambda _ch, e: self.close(f"channel closed: {_name(e)}"))
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(self._on_confirm, callback=lambda _f: self._declare(channel))

    def _declare(self, channel: Channel) -> None:
        exchange = self.publisher.exchange
        unroutable = unroutable_exchange(exchange)

        def declare_exchange(_frame: Any = None) -> None:
            channel.exchange_declare(
                exchange,
                exchange_type=ExchangeType.topic,  # type: ignore[arg-type]
                durable=True,
                arguments=exchange_arguments(exchange),
                callback=self._declared,
            )

        def bind(_frame: Any) -> None:
            channel.queue_bind(unroutable, unroutable, callback=declare_exchange)

        def declare_queue(_frame: Any) -> None:
            channel.queue_declare(unroutable, durable=True, callback=bind)

        channel.exchange_declare(
            unroutable,
            exchange_type=ExchangeType.fanout,  # type: ignore[arg-type]
            durable=True,
            callback=declare_queue,
        )

    def _declared(self, _frame: Any) -> None:
        if not self.ready.done():
            self.ready.set_result(None)

    def send(self, batch: _Batch, messages: list[OutboxEvent]) -> None:
        channel = self.channel
        if channel is None or not channel.is_open:
            batch.future.set_exception(BrokerUnavailable("the channel is closed"))
            return
        for message in messages:
            body = dict(message.body)
            props = properties(body)
            self.next_tag += 1
            batch.waiting[self.next_tag] = message.id
            self.in_flight[self.next_tag] = batch
            self.tag_of_message[str(props.message_id)] = self.next_tag
            channel.basic_publish(
                self.publisher.exchange,
                routing_key(str(body.get("eventType", ""))),
                json.dumps(body, separators=(",", ":")).encode(),
                props,
                mandatory=True,
            )

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        ok = isinstance(method, pika.spec.Basic.Ack)
        tags = (
            sorted(t for t in self.in_flight if t <= method.delivery_tag)
            if method.multiple
            else [method.delivery_tag]
        )
        for tag in tags:
            batch = self.in_flight.pop(tag, None)
            if batch is not None:
                batch.settle(tag, ok=ok, reason="the broker refused (nack) the message")

    def _on_return(self, _channel: Any, _method: Any, props: Any, _body: bytes) -> None:
        tag = self.tag_of_message.pop(str(props.message_id), None)
        batch = self.in_flight.get(tag) if tag is not None else None
        if batch is not None and tag is not None:
            batch.settle(tag, ok=False, reason="the message could not be routed")

    def close(self, reason: str) -> None:
        """End the link: fail what waits, close the connection, stop the loop."""
        self.fail(reason)
        if self.connection.is_open:
            self.connection.close()

    def fail(self, reason: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(BrokerUnavailable(reason))
        batches = {id(b): b for b in self.in_flight.values()}
        self.in_flight.clear()
        self.tag_of_message.clear()
        for batch in batches.values():
            if not batch.future.done():
                batch.future.set_exception(BrokerUnavailable(reason, batch.result))
        self.publisher.forget(self)
        if self.connection.is_closed:
            self.connection.ioloop.stop()


class PikaPublisher:
    """EventPublisher over pika's SelectConnection, one thread per connection."""

    def __init__(self, amqp_url: str, exchange: str, *, connect_timeout: float = 5.0) -> None:
        self.parameters = pika.URLParameters(amqp_url)
        self.parameters.socket_timeout = connect_timeout
        self.parameters.connection_attempts = 1
        self._connect_timeout = connect_timeout
        self.exchange = exchange
        # pika logs several errors per failed connection attempt; the relay logs the
        # broker going away, and coming back, once each.
        logging.getLogger("pika").setLevel(logging.CRITICAL)
        self._lock = threading.Lock()
        self._link: _Link | None = None

    async def connect(self) -> None:
        """Open a connection (declaring the topology) unless one is open already."""
        await self._ready_link()

    async def _ready_link(self) -> _Link:
        link = self._current_link()
        if link.ready.done() and link.ready.exception() is None:
            return link
        try:
            await asyncio.wait_for(asyncio.wrap_future(link.ready), self._connect_timeout * 2)
        except TimeoutError as error:
            self._drop(link, "the broker did not answer in time")
            raise BrokerUnavailable("the broker did not answer in time") from error
        return link

    async def publish(self, messages: Sequence[OutboxEvent]) -> PublishResult:
        if not messages:
            return PublishResult()
        link = await self._ready_link()
        batch = _Batch(Future())
        link.call(lambda: link.send(batch, list(messages)))
        try:
            return await asyncio.wait_for(
                asyncio.wrap_future(batch.future), CONFIRM_TIMEOUT_SECONDS
            )
        except TimeoutError as error:
            self._drop(link, "confirms did not arrive in time")
            raise BrokerUnavailable("confirms did not arrive in time") from error

    async def close(self) -> None:
        with self._lock:
            link = self._link
        if link is not None:
            self._drop(link, "closing")
            await asyncio.to_thread(link.thread.join, 5)

    def _current_link(self) -> _Link:
        with self._lock:
            if self._link is None:
                self._link = _Link(self)
            return self._link

    def forget(self, link: _Link) -> None:
        """A link ended: the next publish opens a new one."""
        with self._lock:
            if self._link is link:
                self._link = None

    def _drop(self, link: _Link, reason: str) -> None:
        """Stop using `link` at once; it closes on its own thread, forced if it hangs."""
        self.forget(link)

        def close() -> None:
            link.close(reason)
            if not link.connection.is_closed:
                link.connection.ioloop.call_later(5, link.connection.ioloop.stop)

        with contextlib.suppress(RuntimeError, pika.exceptions.AMQPError):
            link.call(close)


def _name(error: BaseException | str) -> str:
    # Never echo connection parameters: they may carry credentials.
    return type(error).__name__ if isinstance(error, BaseException) else "closed"
