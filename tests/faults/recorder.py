"""A consumer on a thread of its own: every event on a queue bound to the exchange,
with the time it arrived."""

from __future__ import annotations

import collections
import json
import threading
import time
import uuid
from datetime import datetime
from typing import Any

import pika

from tests.relay.conftest import AMQP_URL


class Recorder:
    """Binds a queue to `exchange` (declared as the relay declares it) and records
    (arrival time, body) of everything that reaches it, until `close`."""

    def __init__(self, exchange: str, routing_key: str = "task.#") -> None:
        self.received: list[tuple[float, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        channel = self._connection.channel()
        channel.exchange_declare(
            exchange,
            exchange_type="topic",
            durable=True,
            arguments={"alternate-exchange": f"{exchange}.unroutable"},
        )
        self.queue = f"{exchange}.rec.{uuid.uuid4().hex[:6]}"
        channel.queue_declare(self.queue, exclusive=True)
        channel.queue_bind(self.queue, exchange, routing_key=routing_key)
        self._channel = channel
        self._thread = threading.Thread(target=self._consume, daemon=True)
        self._thread.start()

    def _consume(self) -> None:
        while not self._stop.is_set():
            method, _props, body = self._channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                self._connection.sleep(0.02)
                continue
            with self._lock:
                self.received.append((time.time(), json.loads(body)))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._connection.close()

    def snapshot(self) -> list[tuple[float, dict[str, Any]]]:
        with self._lock:
            return list(self.received)

    def first_deliveries(self) -> dict[str, list[int]]:
        """Each task's event sequences in the order they first arrived (a redelivery,
        same eventId, is left out: consumers dedupe on it)."""
        seen: set[str] = set()
        by_task: dict[str, list[int]] = collections.defaultdict(list)
        for _, body in self.snapshot():
            if body["eventId"] in seen:
                continue
            seen.add(body["eventId"])
            by_task[body["taskId"]].append(int(body["sequence"]))
        return by_task

    def delays(self) -> list[tuple[float, float]]:
        """(occurred at, seconds until it first arrived) for each event."""
        seen: set[str] = set()
        out = []
        for arrived, body in self.snapshot():
            if body["eventId"] in seen:
                continue
            seen.add(body["eventId"])
            occurred = datetime.fromisoformat(body["occurredAt"]).timestamp()
            out.append((occurred, arrived - occurred))
        return out

    def redeliveries(self) -> int:
        return len(self.snapshot()) - sum(len(v) for v in self.first_deliveries().values())
